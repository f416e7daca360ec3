"""``laptime export otlp --json``: what was exported, and where."""

from __future__ import annotations

from laptime.analysis.results import Result


class OtlpExport(Result):
    """``laptime export otlp --json``."""

    runs: int
    spans: int
    requests: int  # POSTs made (0 when written to a file)
    endpoint: str | None  # the traces URL, without its query (None when written to a file)
    file: str | None  # the file written ("-": stdout; None when sent)
