"""The HTTP API (``laptime serve``, the ``server`` extra): FastAPI over the same analysis as the CLI.

``create_app(store, config, token=None)`` builds the ASGI app; docs/server.md lists the
endpoints. Nothing here is imported by the library or by ``laptime --help``.
"""

from __future__ import annotations

from laptime.server.app import create_app

__all__ = ["create_app"]
