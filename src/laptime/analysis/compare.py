"""Two runs side by side: per phase, per model, verification and outcome, with deltas.

``compare_kpis(a, b, ...)`` works on two KPI dicts (``to_builtins`` of
``laptime.analysis.kpi.compute_kpi``) plus, per run, the cost by model (the KPI's
``cost.by_model``), and returns a ``Comparison`` (``analysis.report_results``). Every
delta is B minus A; a ``change_pct`` is the delta over A's value, in percent, and is
None when A's value is 0 (nothing to compare against).

A phase is **slower** only when the regression check (``analysis.regression``: B against
the run-to-run variation of a baseline, by default the last 20 completed runs of A's task
and runner that started before B) flags its duration as worse; no fixed percentage is
used. Without a check (``regression=None``) nothing is flagged.

``where_the_time_went`` is one sentence, for example::

    B took 4m 10s longer than A: implement +3m 55s (94% of the difference), verify +20.0s; llm calls +6

It names the (at most three) phases, unattributed time included, that moved in the
direction of the total, the largest first, with the largest one's share of the total
difference; then the change in LLM calls and in cost, when there is one.
"""

from __future__ import annotations

from typing import Any

import msgspec

from laptime.analysis.regression import RegressionCheck
from laptime.analysis.report_results import Comparison
from laptime.humanize import duration, signed_count, signed_duration, signed_usd

UNATTRIBUTED = "(unattributed)"
DOWNTIME = "(downtime)"
MAX_CONTRIBUTORS = 3


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _pct(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return (b - a) / a * 100.0


def _triple(a: float | None, b: float | None) -> dict[str, float | None]:
    return {"a": a, "b": b, "delta": _delta(a, b), "change_pct": _pct(a, b)}


def _side(kpi: dict[str, Any], cost: float | None) -> dict[str, Any]:
    return {
        "run_id": kpi["run_id"],
        "name": kpi["name"],
        "runner": kpi.get("runner"),
        "started_at": kpi["started_at"],
        "outcome": kpi["outcome"],
        "total_duration_ms": kpi["total_duration_ms"],
        "cost_usd": cost,
        "cost_source": kpi["cost_source"],
    }


def compare_kpis(
    a: dict[str, Any],
    b: dict[str, Any],
    *,
    a_costs: tuple[dict[str, float | None], float | None] = ({}, None),
    b_costs: tuple[dict[str, float | None], float | None] = ({}, None),
    regression: RegressionCheck | None = None,
) -> Comparison:
    """Everything ``laptime compare`` shows (deltas are B - A); phases are slower when
    ``regression`` flags them."""
    a_model_cost, a_cost = a_costs
    flagged = {m.phase for m in regression.metrics if m.worse and m.metric == "phase"} if regression else set()
    b_model_cost, b_cost = b_costs

    # -- phases, in A's order, then the ones only B has; unattributed time last ----------------
    names = list(a["phases"]) + [n for n in b["phases"] if n not in a["phases"]]
    phases = []
    for name in names:
        pa = a["phases"].get(name)
        pb = b["phases"].get(name)
        a_ms = pa["duration_ms"] if pa else 0
        b_ms = pb["duration_ms"] if pb else 0
        a_att = pa["attempts"] if pa else 0
        b_att = pb["attempts"] if pb else 0
        phases.append(
            {
                "phase": name,
                "a_ms": a_ms,
                "b_ms": b_ms,
                "delta_ms": b_ms - a_ms,
                "change_pct": _pct(a_ms, b_ms),
                "a_attempts": a_att,
                "b_attempts": b_att,
                "delta_attempts": b_att - a_att,
                "in_a": pa is not None,
                "in_b": pb is not None,
                "slower": name in flagged,
            }
        )
    ua, ub = a["unattributed_ms"], b["unattributed_ms"]
    unattributed = {
        "a_ms": ua,
        "b_ms": ub,
        "delta_ms": ub - ua,
        "change_pct": _pct(ua, ub),
    }

    # -- llm by model -----------------------------------------------------------------------------
    models = []
    model_names = list(a["models"]) + [m for m in b["models"] if m not in a["models"]]
    for name in model_names:
        ma = a["models"].get(name)
        mb = b["models"].get(name)
        row: dict[str, Any] = {"model": name, "provider": (ma or mb or {}).get("provider")}
        for key in ("calls", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
            row[key] = _triple(ma[key] if ma else 0, mb[key] if mb else 0)
        ca = a_model_cost.get(name) if ma else 0.0
        cb = b_model_cost.get(name) if mb else 0.0
        row["cost_usd"] = _triple(ca, cb)
        models.append(row)
    models.sort(key=lambda r: (-(r["calls"]["a"] + r["calls"]["b"]), r["model"]))

    ta, tb = a["tokens"], b["tokens"]
    llm = {
        "calls": _triple(a["llm_calls"], b["llm_calls"]),
        "input_tokens": _triple(ta["input_tokens"], tb["input_tokens"]),
        "output_tokens": _triple(ta["output_tokens"], tb["output_tokens"]),
        "cache_read_tokens": _triple(ta["cache_read_tokens"], tb["cache_read_tokens"]),
        "cache_write_tokens": _triple(ta["cache_write_tokens"], tb["cache_write_tokens"]),
        "total_tokens": _triple(ta["total_tokens"], tb["total_tokens"]),
        "cost_usd": _triple(a_cost, b_cost),
        "models": models,
    }

    va, vb = a["verification"], b["verification"]
    verification: dict[str, Any] = {
        key: _triple(va[key], vb[key]) for key in ("commands_run", "passed", "failed", "retries")
    }
    verification["tiers"] = {"a": va["tiers_executed"], "b": vb["tiers_executed"]}
    ca_, cb_ = a["changes"], b["changes"]
    changes = {key: _triple(ca_[key], cb_[key]) for key in ("files_touched", "lines_added", "lines_removed")}

    result: dict[str, Any] = {
        "a": _side(a, a_cost),
        "b": _side(b, b_cost),
        "duration": _triple(a["total_duration_ms"], b["total_duration_ms"]),
        "tvc": _triple(a["tvc_ms"], b["tvc_ms"]),
        "phases": phases,
        "unattributed": unattributed,
        # time the runner was down (a crash, then a resume): its own figure, never a phase's
        "downtime": _triple(a.get("downtime_ms", 0), b.get("downtime_ms", 0)),
        "slower_phases": [p["phase"] for p in phases if p["slower"]],
        "llm": llm,
        "verification": verification,
        "outcome": {"a": a["outcome"], "b": b["outcome"], "changed": a["outcome"] != b["outcome"]},
        "changes": changes,
        "scope_violations": _triple(a["scope_violations"], b["scope_violations"]),
        "milestones_completed": _triple(a["milestones"]["completed"], b["milestones"]["completed"]),
    }
    result["where_the_time_went"] = where_the_time_went(result)
    comparison = msgspec.convert(result, Comparison)
    return comparison if regression is None else msgspec.structs.replace(comparison, regression=regression)


def where_the_time_went(cmp: dict[str, Any]) -> str:
    """One sentence: how much longer or shorter B took, and which phases made it so."""

    total = cmp["duration"]["delta"] or 0.0
    if total == 0:
        sentence = f"A and B took the same time ({duration(cmp['duration']['a'])})"
    else:
        longer = total > 0
        sentence = f"B took {duration(abs(total))} {'longer' if longer else 'less'} than A"
        moved = [(p["phase"], p["delta_ms"]) for p in cmp["phases"]]
        moved.append((UNATTRIBUTED, cmp["unattributed"]["delta_ms"]))
        same_way = [(n, d) for n, d in moved if (d > 0 if longer else d < 0)]
        same_way.sort(key=lambda nd: -abs(nd[1]))
        parts = []
        for i, (name, delta) in enumerate(same_way[:MAX_CONTRIBUTORS]):
            share = f" ({delta / total * 100:.0f}% of the difference)" if i == 0 else ""
            parts.append(f"{name} {signed_duration(delta)}{share}")
        if parts:
            sentence += ": " + ", ".join(parts)
    extras = []
    calls = cmp["llm"]["calls"]["delta"]
    if calls:
        extras.append(f"llm calls {signed_count(calls)}")
    cost = cmp["llm"]["cost_usd"]["delta"]
    if cost:
        extras.append(f"cost {signed_usd(cost)}")
    if extras:
        sentence += "; " + ", ".join(extras)
    return sentence
