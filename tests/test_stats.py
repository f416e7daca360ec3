"""Percentiles: linear interpolation between closest ranks, DESIGN.md's one definition.

That is numpy's default method and ``statistics.quantiles(method="inclusive")``; the
numpy values below are the ones ``numpy.percentile`` returns (numpy is not a dependency).
"""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laptime.analysis.stats import percentile, summarize


@pytest.mark.parametrize(
    ("values", "q", "numpy_value"),
    [
        ([1, 2, 3, 4], 25, 1.75),
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4], 75, 3.25),
        ([15, 20, 35, 40, 50], 40, 29.0),
        ([15, 20, 35, 40, 50], 90, 46.0),
        ([15, 20, 35, 40, 50], 5, 16.0),
        ([1, 2, 3, 4, 7, 10], 50, 3.5),  # numpy's docs: np.percentile([[10, 7, 4], [3, 2, 1]], 50)
        ([1, 2, 3, 4, 7, 10], 95, 9.25),
        ([3, 7], 10, 3.4),
        ([42], 50, 42.0),
        ([42], 99, 42.0),
        ([0, 10], 0, 0.0),
        ([0, 10], 100, 10.0),
        ([0, 10], 12.5, 1.25),
    ],
)
def test_percentile_matches_numpy_default(values: list[float], q: float, numpy_value: float) -> None:
    assert percentile(values, q) == pytest.approx(numpy_value, rel=1e-12)


def test_percentile_of_nothing_is_none() -> None:
    assert percentile([], 50) is None


@pytest.mark.parametrize("q", [-0.1, 100.1, 1000])
def test_percentile_out_of_range_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0, 2.0], q)


finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=2, max_size=60))
def test_percentile_equals_statistics_quantiles_inclusive(values: list[float]) -> None:
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    scale = max(1.0, *(abs(v) for v in ordered))
    for k, expected in enumerate(cuts, start=1):
        got = percentile(ordered, k)
        assert got is not None
        assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9 * scale), (k, got, expected)


@given(st.lists(finite, min_size=1, max_size=60), st.floats(min_value=0, max_value=100))
def test_percentile_lies_between_its_neighbours(values: list[float], q: float) -> None:
    ordered = sorted(values)
    got = percentile(ordered, q)
    assert got is not None
    assert ordered[0] <= got <= ordered[-1]
    assert percentile(ordered, 0) == ordered[0]
    assert percentile(ordered, 100) == ordered[-1]


def test_summarize() -> None:
    assert summarize([4, 1, 3, 2]) == {
        "n": 4,
        "total": 10.0,
        "avg": 2.5,
        "p50": 2.5,
        "p90": pytest.approx(3.7),
        "p95": pytest.approx(3.85),
        "min": 1.0,
        "max": 4.0,
    }


def test_summarize_nothing_states_n_zero() -> None:
    assert summarize([]) == {
        "n": 0,
        "total": 0.0,
        "avg": None,
        "p50": None,
        "p90": None,
        "p95": None,
        "min": None,
        "max": None,
    }
