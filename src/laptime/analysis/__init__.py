"""Analysis: KPIs, statistics and comparisons, computed from the index."""
