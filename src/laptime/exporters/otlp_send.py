"""POST OTLP/JSON documents to an OTLP/HTTP receiver (``laptime export otlp --endpoint``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from laptime.errors import LaptimeError, UsageError

TRACES_PATH: Final = "/v1/traces"


class OtlpSendError(LaptimeError):
    """The receiver could not be reached, or refused the export."""


def traces_url(endpoint: str) -> str:
    """The traces URL of an OTLP/HTTP endpoint: as ``OTEL_EXPORTER_OTLP_ENDPOINT`` is a
    base URL, ``/v1/traces`` is appended unless the path already ends with it."""
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"--endpoint: {endpoint!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:4318)"
        raise UsageError(msg)
    path = parts.path.rstrip("/")
    if not path.endswith(TRACES_PATH):
        path += TRACES_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def parse_headers(pairs: list[str], env_value: str | None) -> dict[str, str]:
    """``--header K=V`` (repeatable) over ``OTEL_EXPORTER_OTLP_HEADERS`` (``k1=v1,k2=v2``)."""
    headers: dict[str, str] = {}
    for item in (env_value or "").split(","):
        if item.strip():
            key, sep, value = item.partition("=")
            if not sep:
                msg = "OTEL_EXPORTER_OTLP_HEADERS: each entry must be KEY=VALUE"
                raise UsageError(msg)
            headers[key.strip()] = value.strip()
    headers.update(key_values(pairs, "--header"))
    return headers


def key_values(items: list[str] | tuple[str, ...], option: str) -> dict[str, str]:
    """``KEY=VALUE`` options (``--header``, ``--resource``) as a dict; a bad one names the option."""
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            msg = f"{option}: {key.strip() or item!r} must be KEY=VALUE"
            raise UsageError(msg)
        found[key.strip()] = value
    return found


@dataclass(frozen=True)
class SendResult:
    spans: int
    requests: int


PROTOCOLS: Final = ("http/protobuf", "http/json")


def send(
    url: str,
    documents: list[dict[str, Any]],
    headers: Mapping[str, str],
    *,
    timeout: float,
    protocol: str = "http/protobuf",
) -> SendResult:
    """POST each document (protobuf, the OTLP/HTTP default, or JSON); raises OtlpSendError
    naming the endpoint (never a header)."""
    import httpx

    spans = requests = 0
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        for document in documents:
            if protocol == "http/json":
                body, content_type = json.dumps(document, separators=(",", ":")).encode(), "application/json"
            else:
                from laptime.exporters.otlp_proto import to_protobuf

                body, content_type = to_protobuf(document), "application/x-protobuf"
            try:
                response = client.post(url, content=body, headers={"Content-Type": content_type, **headers})
            except httpx.TimeoutException:
                msg = f"{_where(url)} did not answer within {timeout:g} s"
                raise OtlpSendError(msg) from None
            except httpx.TransportError as exc:
                msg = f"could not reach {_where(url)}: {exc}"
                raise OtlpSendError(msg) from None
            if not 200 <= response.status_code < 300:
                msg = f"{_where(url)} answered HTTP {response.status_code}: {response.text[:200]}"
                raise OtlpSendError(msg)
            requests += 1
            spans += sum(len(s["spans"]) for r in document["resourceSpans"] for s in r["scopeSpans"])
    return SendResult(spans, requests)


def _where(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
