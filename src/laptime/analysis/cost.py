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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import apsw

from laptime.index import ts_us
from laptime.pricing import SOURCE_REPORTED, SOURCE_UNPRICED, PriceBook

if TYPE_CHECKING:
    from laptime.index import Index


# Library price answers, kept across processes: a cache, dropped with the index.
_PRICE_CACHE_TABLE = """CREATE TABLE IF NOT EXISTS price_cache (
    version TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL, day TEXT NOT NULL, bucket INTEGER NOT NULL,
    r_in REAL, r_out REAL, r_cr REAL, r_cw REAL, r_call REAL, PRIMARY KEY (version, model, provider, day, bucket))"""


@dataclass
class ModelCost:
    """One (model, provider)'s calls, tokens and cost. ``input`` excludes cache tokens."""

    model: str
    provider: str
    calls: int = 0
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
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


@dataclass(frozen=True)
class TaskCost:
    task: str | None  # the run's name
    runs: int
    cost_usd: float | None
    unpriced_calls: int


class CostCalculator:
    """Costs over all runs, or over the runs ``runs_sql`` selects (a query of run ids)."""

    _instances = 0

    def __init__(
        self, index: Index, book: PriceBook, *, runs_sql: str | None = None, params: Iterable[Any] = ()
    ) -> None:
        self.index = index
        self.book = book
        self.params = list(params)
        self.where = f"WHERE l.run_id IN ({runs_sql})" if runs_sql else ""
        self._models: dict[tuple[str, str], ModelCost] | None = None
        self._slow: set[tuple[str, str]] = set()  # models priced call by call (not day-exact)
        self._rates_ready = False
        self._cache_loaded = False
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
        row = self.index.query(f"SELECT TOTAL(l.cost_usd) FROM run_llm l {self.where}", self.params)
        return float(row[0][0])

    def _load_price_cache(self) -> None:
        """The library answers earlier processes saved in the index (see laptime.pricing)."""
        version = self.book.cache_version()
        if version is None or self._cache_loaded:
            return
        self._cache_loaded = True
        try:
            rows = self.index.query(
                "SELECT model, provider, day, bucket, r_in, r_out, r_cr, r_cw, r_call FROM price_cache "
                "WHERE version = ?",
                (version,),
            )
        except apsw.SQLError:  # no such table yet
            return
        self.book.load_cache(rows)

    def save_price_cache(self) -> None:
        """Keep the library answers of this process for the next ones (best effort)."""
        version = self.book.cache_version()
        rows = self.book.new_cache_rows
        if version is None or not rows:
            return
        try:
            with self.index.db:
                self.index.db.execute(_PRICE_CACHE_TABLE)
                self.index.db.execute("DELETE FROM price_cache WHERE version <> ?", (version,))
                self.index.db.executemany(
                    "INSERT OR REPLACE INTO price_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(version, *row) for row in rows],
                )
            rows.clear()
        except apsw.Error:  # read-only store, busy: the next process computes them again
            return

    def _by_model(self) -> dict[tuple[str, str], ModelCost]:
        if self._models is not None:
            return self._models
        self._load_price_cache()
        models: dict[tuple[str, str], ModelCost] = {}
        rows = self.index.query(
            f"""SELECT l.model, l.provider, l.day, l.bucket, l.reported, SUM(l.calls), SUM(l.input), SUM(l.output),
                       SUM(l.cache_read), SUM(l.cache_write), SUM(l.estimated_tokens), TOTAL(l.cost_usd),
                       TOTAL(l.latency_sum), SUM(l.latency_n)
                FROM run_llm l {self.where}
                GROUP BY l.model, l.provider, l.day, l.bucket, l.reported""",
            self.params,
        )
        for model, provider, day, bucket, reported, calls, inp, out, cread, cwrite, est, cost, lat, lat_n in rows:
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
            m._add_cost(rates.cost(calls, inp, out, cread, cwrite), rates.source)  # noqa: SLF001
        for (model, provider), per_run in self._slow_costs().items():
            m = models[(model, provider)]
            for cost, source in per_run.values():
                if cost is None:
                    m.unpriced_calls += 1
                    if SOURCE_UNPRICED not in m.sources:
                        m.sources.append(SOURCE_UNPRICED)
                else:
                    m._add_cost(cost, source)  # noqa: SLF001
        self._models = models
        self.save_price_cache()
        return models

    def _slow_costs(self) -> dict[tuple[str, str], dict[str, tuple[float | None, str]]]:
        """Models priced call by call: (model, provider) -> call id -> (cost, source)."""
        out: dict[tuple[str, str], dict[str, tuple[float | None, str]]] = {}
        for model, provider in sorted(self._slow):
            where = self.where.replace("l.run_id", "c.run")
            joiner = "AND" if where else "WHERE"
            rows = self.index.query(
                f"""SELECT c.id, c.run, {ts_us("c.ts")}, c.input_tokens, c.output_tokens, c.cache_read_tokens,
                           c.cache_write_tokens, c.input_includes_cache
                    FROM llm_calls c {where} {joiner} c.model = ? AND c.provider = ? AND c.cost_usd IS NULL""",
                [*self.params, model, provider],
            )
            calls = out.setdefault((model, provider), {})
            for call_id, run, at, inp, out_tokens, cread, cwrite, includes in rows:
                priced = self.book.price(model, provider, at, inp, out_tokens, cread, cwrite, bool(includes))
                calls[f"{run}\0{call_id}"] = (priced.cost_usd, priced.source)
        return out

    # -- per run and per task -----------------------------------------------------------------

    def _ensure_rates(self) -> None:
        """temp.llm_rates: the per-1M rates of every (model, provider, day, bucket) group."""
        if self._rates_ready:
            return
        self._by_model()
        db = self.index.db
        db.execute(
            f"""CREATE TEMP TABLE IF NOT EXISTS {self._rates_table} (model TEXT, provider TEXT, day TEXT,
               bucket INTEGER, r_in REAL, r_out REAL, r_cr REAL, r_cw REAL, r_call REAL,
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
                     rates.per_call)
                )  # fmt: skip
        db.executemany(f"INSERT INTO temp.{self._rates_table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._rates_ready = True

    _RUN_COST_SQL = """SELECT l.run_id AS run_id,
           TOTAL(CASE WHEN l.reported THEN l.cost_usd
                 ELSE (l.input * r.r_in + l.output * r.r_out + l.cache_read * r.r_cr
                       + l.cache_write * r.r_cw) / 1000000.0 + l.calls * r.r_call END) AS cost,
           SUM(CASE WHEN NOT l.reported AND r.model IS NULL THEN l.calls ELSE 0 END) AS unpriced,
           SUM(l.calls) AS calls
        FROM run_llm l LEFT JOIN temp.{rates} r
             ON r.model = l.model AND r.provider = l.provider AND r.day = l.day AND r.bucket = l.bucket"""

    @property
    def _run_cost_sql(self) -> str:
        return self._RUN_COST_SQL.replace("{rates}", self._rates_table)

    def by_run(self) -> dict[str, RunCost]:
        """The cost of each selected run that made LLM calls."""
        self._ensure_rates()
        out: dict[str, RunCost] = {}
        for run_id, cost, unpriced, calls in self.index.query(
            f"{self._run_cost_sql} {self.where} GROUP BY l.run_id", self.params
        ):
            out[run_id] = RunCost(cost if unpriced < calls else None, calls, unpriced)
        self._apply_slow(out)
        return out

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
            result = [TaskCost(name, len(t[0]), t[1], t[2]) for name, t in tasks.items()]
        else:
            rows = self.index.query(
                f"""SELECT u.name, COUNT(*), TOTAL(c.cost), SUM(c.unpriced), SUM(c.calls)
                    FROM ({self._run_cost_sql} {self.where} GROUP BY l.run_id) c JOIN runs u ON u.run_id = c.run_id
                    GROUP BY u.name""",
                self.params,
            )
            result = [
                TaskCost(name, runs, cost if unpriced < calls else None, unpriced)
                for name, runs, cost, unpriced, calls in rows
            ]
        result.sort(key=lambda t: (t.cost_usd is None, -(t.cost_usd or 0.0), t.task or ""))
        return result[:limit] if limit is not None else result


def run_costs(index: Index, book: PriceBook, run_ids: Iterable[str]) -> dict[str, RunCost]:
    """The cost of a few runs (compare, status): run id -> RunCost (runs with calls only)."""
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        return {}
    index.db.execute("CREATE TEMP TABLE IF NOT EXISTS cost_sel (run_id TEXT PRIMARY KEY)")
    index.db.execute("DELETE FROM temp.cost_sel")
    index.db.executemany("INSERT OR IGNORE INTO temp.cost_sel VALUES (?)", [(r,) for r in ids])
    return CostCalculator(index, book, runs_sql="SELECT run_id FROM temp.cost_sel").by_run()
