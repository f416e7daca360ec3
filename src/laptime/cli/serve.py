"""``laptime serve``: the HTTP API and OTLP/HTTP receiver (the ``server`` extra)."""

from __future__ import annotations

import os

import click

from laptime.cli._common import UsageProblem, config_of, store_of

TOKEN_ENV = "LAPTIME_SERVER_TOKEN"  # noqa: S105 - the variable's name, not a token
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; any but loopback needs a token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True, help="Port to bind.")
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    show_envvar=True,
    help="Require `Authorization: Bearer TOKEN` on every request (prefer the environment variable).",
)
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info"]), default="info")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, token: str | None, log_level: str) -> None:
    """Serve the store over HTTP: runs, KPIs, summaries, usage, phase metrics, POST /events and an
    OTLP/HTTP receiver (POST /v1/traces). docs/server.md lists the endpoints.

    It binds 127.0.0.1 unless told otherwise; binding any other address needs a token
    (--token or LAPTIME_SERVER_TOKEN), and every request must then carry it.

    \b
    Examples:
      laptime serve                                  http://127.0.0.1:8787
      LAPTIME_SERVER_TOKEN=s3cret laptime serve --host 0.0.0.0
      curl http://127.0.0.1:8787/runs?limit=5
    """
    if host not in LOOPBACK and not token:
        msg = f"--host {host} is not loopback: give a token with --token or {TOKEN_ENV}, so that others must send it"
        raise UsageProblem(msg)
    if token is not None and not token.strip():
        raise UsageProblem(f"--token / {TOKEN_ENV} is empty; give a token or leave it unset")
    try:
        import uvicorn

        from laptime.server import create_app
    except ImportError as exc:
        msg = f"`laptime serve` needs the server extra ({exc.name} is missing): pip install 'laptime[server]'"
        raise UsageProblem(msg) from None
    _check_bind(host, port)
    store = store_of(ctx)
    app = create_app(store, config_of(store), token=token)
    os.environ.pop(TOKEN_ENV, None)  # not inherited by anything the server might start
    click.echo(
        f"laptime serve: {store.root} on http://{host}:{port} ({'token required' if token else 'no token'})", err=True
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False, proxy_headers=False)


def _check_bind(host: str, port: int) -> None:
    """Refuse, with laptime's own message, an address that cannot be bound (a host that does
    not resolve, a port in use), before uvicorn tries it and exits 3 with its own."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageProblem(f"--host {host}: cannot be resolved ({exc}); give an address or a host name") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            msg = f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port or --host"
            raise UsageProblem(msg) from None
