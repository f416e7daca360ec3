"""What every request shares: the store, its config, limits, and the index opened per request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from laptime.config import Config
from laptime.store import Store

if TYPE_CHECKING:
    from laptime.index import Index
    from laptime.pricing import PriceBook

MAX_BODY_BYTES = 8 * 1024 * 1024  # a request body (413 past it)
MAX_BATCH_EVENTS = 10_000  # events in one POST /events (413 past it)
MAX_PAGE = 500  # runs in one GET /runs page


@dataclass
class ServerContext:
    store: Store
    config: Config
    # One writer at a time in this process: a batch's duplicates are looked up and its new
    # events appended before the next batch looks (the log's appends stay whole across processes).
    append_lock: threading.Lock = field(default_factory=threading.Lock)

    def book(self) -> PriceBook:
        from laptime.pricing import PriceBook

        return PriceBook.from_config(self.config)

    def crashed_after_us(self) -> int:
        from laptime.definitions import crashed_after_us

        return crashed_after_us(self.config.crashed_after_minutes)

    @contextmanager
    def index(self) -> Iterator[Index]:
        """The index brought up to date (without waiting on another writer), one snapshot per request."""
        from laptime.index import Index
        from laptime.server.errors import ApiError

        if not self.store.exists():
            raise ApiError(404, f"no laptime store at {self.store.root}; POST /events to start one")
        index = Index(self.store)
        try:
            index.update(wait=False)
            with index.snapshot():
                yield index
        finally:
            index.close()
