"""Percentiles and summaries, one definition for every view.

Percentiles use linear interpolation between closest ranks: numpy's default, and
``statistics.quantiles(method="inclusive")``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) of already sorted values; None when there are none."""
    n = len(sorted_values)
    if n == 0:
        return None
    if not 0 <= q <= 100:
        msg = f"percentile must be between 0 and 100, got {q}"
        raise ValueError(msg)
    position = (n - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, n - 1)
    fraction = position - low
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction)


def summarize(values: Sequence[float]) -> dict[str, float | int | None]:
    """n, total, avg, p50, p90, p95, min and max of the values."""
    ordered = sorted(values)
    n = len(ordered)
    total = float(sum(ordered))
    return {
        "n": n,
        "total": total,
        "avg": total / n if n else None,
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p95": percentile(ordered, 95),
        "min": float(ordered[0]) if n else None,
        "max": float(ordered[-1]) if n else None,
    }


# -- tests of a shift between two samples (laptime.analysis.regression) -------------------------------

# Mann-Whitney's exact null distribution is used up to this many pairs (and without ties);
# beyond it, the normal approximation is within a fraction of a percent and far cheaper.
MW_EXACT_MAX_PAIRS = 2_500
# The Hodges-Lehmann shift sorts every pairwise difference up to this many pairs; beyond it
# the median difference is found by bisection on the value, counting pairs with bisect
# (about 30 counts of the shorter sample: far cheaper than sorting n*m differences).
HL_SORT_MAX_PAIRS = 10_000


def normal_sf(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _midranks(baseline: Sequence[float], current: Sequence[float]) -> tuple[float, list[int]]:
    """The sum of the current sample's ranks in the pooled sample (ties get their average
    rank), and the sizes of the tie groups."""
    from collections import Counter

    counts = Counter(baseline)
    counts.update(current)
    rank_of: dict[float, float] = {}
    below = 0
    for value in sorted(counts):
        k = counts[value]
        rank_of[value] = below + (k + 1) / 2  # the average of the 1-based ranks below+1 .. below+k
        below += k
    ties = [k for k in counts.values() if k > 1]
    return math.fsum(map(rank_of.__getitem__, current)), ties


def _u_distribution(n: int, m: int) -> list[int]:
    """How many of the C(n+m, n) orderings give each U = 0 .. n*m (no ties): the
    coefficients of the Gaussian binomial [n+m choose n]_q."""
    k, rest = min(n, m), max(n, m)
    poly = [1]
    for i in range(1, k + 1):
        shift = rest + i
        grown = [*poly, *([0] * shift)]  # times (1 - q^shift)
        for j in range(shift, len(grown)):
            grown[j] -= poly[j - shift]
        for j in range(i, len(grown)):  # over (1 - q^i): an exact division
            grown[j] += grown[j - i]
        poly = grown[: k * rest + 1]
    return poly


def mann_whitney_greater(baseline: Sequence[float], current: Sequence[float]) -> tuple[float, str]:
    """One-sided Mann-Whitney U test that ``current`` tends to be larger than ``baseline``.

    Returns (p-value, how it was computed): ``exact`` (the null distribution of U, for
    samples without ties and at most ``MW_EXACT_MAX_PAIRS`` pairs) or ``normal`` (the
    normal approximation with the tie correction of the variance and a continuity
    correction of 0.5)."""
    n, m = len(current), len(baseline)
    if not n or not m:
        msg = "both samples need at least one value"
        raise ValueError(msg)
    rank_sum, ties = _midranks(baseline, current)
    u = rank_sum - n * (n + 1) / 2  # pairs (c, b) with c > b, ties counting a half
    if not ties and n * m <= MW_EXACT_MAX_PAIRS:
        counts = _u_distribution(n, m)
        at_least = sum(counts[math.ceil(u - 1e-9) :])
        return at_least / sum(counts), "exact"
    total = n + m
    tie_term = sum(t**3 - t for t in ties) / (total * (total - 1))
    variance = n * m / 12 * ((total + 1) - tie_term)
    if variance <= 0:  # every value the same: no evidence either way
        return 1.0, "normal"
    z = (u - n * m / 2 - 0.5) / math.sqrt(variance)
    return normal_sf(z), "normal"


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the family-wise error rate
    stays at or below alpha when the hypotheses with adjusted p <= alpha are rejected."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for step, i in enumerate(order):
        running = max(running, min(1.0, (m - step) * p_values[i]))
        adjusted[i] = running
    return adjusted


def hodges_lehmann(baseline: Sequence[float], current: Sequence[float]) -> float:
    """The Hodges-Lehmann shift: the median of every difference current - baseline.

    Exact. Up to ``HL_SORT_MAX_PAIRS`` pairs the differences are sorted; beyond, the middle
    differences are found by bisection on the value (counting the pairs at most a value
    with bisect) until few differences lie in the interval, which are then listed and sorted."""
    n, m = len(current), len(baseline)
    if not n or not m:
        msg = "both samples need at least one value"
        raise ValueError(msg)
    if n * m <= HL_SORT_MAX_PAIRS:
        diffs = sorted(c - b for c in current for b in baseline)
        middle = percentile(diffs, 50)
        assert middle is not None
        return middle
    base, cur = sorted(baseline), sorted(current)
    pairs = n * m
    low_rank, high_rank = (pairs - 1) // 2, pairs // 2  # 0-based ranks of the middle difference(s)
    # Invariant: at most low_rank differences are <= lo, more than high_rank are <= hi.
    lo, hi = cur[0] - base[-1] - 1.0, float(cur[-1] - base[0])
    below, up_to_hi = 0, pairs  # differences <= lo, <= hi
    enough = max(HL_SORT_MAX_PAIRS, 4 * (n + m))
    for step in range(_HL_MAX_STEPS):
        if up_to_hi - below <= enough:
            window = sorted(_differences_between(base, cur, lo, hi))
            return (window[low_rank - below] + window[high_rank - below]) / 2
        if step >= _HL_JUMP_AFTER:  # many equal differences (ties): step to the next distinct one
            nearest = _nearest_above(base, cur, lo)
            at_nearest = _pairs_at_most(base, cur, nearest)
            if at_nearest > high_rank:  # both middle ranks are this difference
                return nearest
            lo, below = nearest, at_nearest
            continue
        mid = (lo + hi) / 2
        if not lo < mid < hi:  # no value between: every difference in (lo, hi] is hi
            return hi
        if step % 2 == 0:  # every other step interpolates the count (fast on smooth data)
            share = (low_rank + 0.5 - below) / (up_to_hi - below)
            guess = lo + (hi - lo) * share
            if lo < guess < hi:
                mid = guess
        at_mid = _pairs_at_most(base, cur, mid)
        if at_mid > high_rank:
            hi, up_to_hi = mid, at_mid
        elif at_mid <= low_rank:
            lo, below = mid, at_mid
        else:  # the middle ranks straddle mid: the largest difference <= mid and the smallest above
            return (_nearest_at_most(base, cur, mid) + _nearest_above(base, cur, mid)) / 2
    msg = "hodges_lehmann did not converge"  # not reached: every step halves or passes a value
    raise AssertionError(msg)


_HL_MAX_STEPS = 10_000
_HL_JUMP_AFTER = 60  # bisection steps before stepping through distinct differences instead


def _nearest_above(base: list[float], cur: list[float], d: float) -> float:
    """The smallest difference c - b above ``d`` (one exists: the caller's hi is one)."""
    from bisect import bisect_left

    best = math.inf
    for c in cur:  # c - b > d  <=>  b < c - d: the largest such b
        i = bisect_left(base, c - d)
        if i:
            best = min(best, c - base[i - 1])
    return best


def _nearest_at_most(base: list[float], cur: list[float], d: float) -> float:
    """The largest difference c - b at most ``d``."""
    from bisect import bisect_left

    best = -math.inf
    for c in cur:  # c - b <= d  <=>  b >= c - d: the smallest such b
        i = bisect_left(base, c - d)
        if i < len(base):
            best = max(best, c - base[i])
    return best


def _pairs_at_most(base: list[float], cur: list[float], d: float) -> int:
    """How many differences c - b are at most ``d`` (both sorted), walking the shorter sample."""
    from bisect import bisect_left, bisect_right

    m = len(base)
    if len(cur) <= m:
        return sum(m - bisect_left(base, c - d) for c in cur)
    return sum(bisect_right(cur, b + d) for b in base)


def _differences_between(base: list[float], cur: list[float], lo: float, hi: float) -> list[float]:
    """Every difference c - b with lo < c - b <= hi."""
    from bisect import bisect_left, bisect_right

    out: list[float] = []
    if len(cur) <= len(base):
        for c in cur:  # lo < c - b <= hi  <=>  c - hi <= b < c - lo
            out.extend(c - b for b in base[bisect_left(base, c - hi) : bisect_left(base, c - lo)])
    else:
        for b in base:  # b + lo < c <= b + hi
            out.extend(c - b for c in cur[bisect_right(cur, b + lo) : bisect_right(cur, b + hi)])
    return out


def student_t_sf(t: float, df: float) -> float:
    """P(T >= t) for Student's t with ``df`` degrees of freedom."""
    x = df / (df + t * t)
    tail = 0.5 * _regularized_beta(x, df / 2, 0.5)
    return tail if t >= 0 else 1.0 - tail


def _regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), by the continued fraction (Lentz's method; Numerical Recipes' betacf)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast on the other side
        return 1.0 - _regularized_beta(1.0 - x, b, a)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for i in range(1, 300):
        for numerator in (
            i * (b - i) * x / ((a + 2 * i - 1) * (a + 2 * i)),
            -(a + i) * (a + b + i) * x / ((a + 2 * i) * (a + 2 * i + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return front * result / a


def prediction_p(baseline: Sequence[float], value: float) -> float:
    """One-sided p-value that ``value`` comes from the baseline's distribution, against
    it being larger: Student's t prediction interval for one new observation,
    t = (value - mean) / (sd * sqrt(1 + 1/k)) with k - 1 degrees of freedom (k >= 2
    baseline values, run-to-run variation taken as normal). A baseline without any
    variation falls back to the rank p-value 1/(k+1) for a larger value (1 otherwise)."""
    k = len(baseline)
    if k < 2:
        msg = "a prediction interval needs at least two baseline values"
        raise ValueError(msg)
    mean = math.fsum(baseline) / k
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in baseline) / (k - 1))
    if sd == 0:
        return 1 / (k + 1) if value > mean else 1.0
    return student_t_sf((value - mean) / (sd * math.sqrt(1 + 1 / k)), k - 1)
