"""Helpers for the HTTP tests: requests, error assertions and a second connection.

The second connection reads the database the way another process would, so a
test can show that a row was committed and not only written inside a
transaction that the server still holds.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import peewee
import pytest
import tornado.httpclient
from playhouse import db_url

from handlers.gateway import Gateway
from models.audit import AuditEvent
from models.runs import IntegrationRun

BASIC_CHALLENGE = 'Basic realm="integration-gateway", charset="UTF-8"'
BEARER_CHALLENGE = 'Bearer realm="integration-gateway"'
INVALID_TOKEN_CHALLENGE = 'Bearer realm="integration-gateway", error="invalid_token"'
FORM_TYPE = "application/x-www-form-urlencoded"


async def fetch(
    http_client: tornado.httpclient.AsyncHTTPClient,
    url: str,
    method: str = "GET",
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tornado.httpclient.HTTPResponse:
    """Send one request and return the response, whatever its status."""
    if method in ("POST", "PUT", "PATCH") and body is None:
        body = b""
    return await http_client.fetch(
        url,
        method=method,
        body=body,
        headers=headers or {},
        raise_error=False,
        follow_redirects=False,
    )


def json_body(response: tornado.httpclient.HTTPResponse) -> Any:
    """Decode a JSON response body, checking its media type first."""
    content_type = response.headers.get("Content-Type", "")
    assert content_type.startswith("application/json"), content_type
    return json.loads(response.body)


def assert_error(
    response: tornado.httpclient.HTTPResponse, status: int, error: str
) -> dict[str, Any]:
    """Assert the status and the ``error`` field; return the whole body."""
    assert response.code == status, response.body
    body = json_body(response)
    assert body["error"] == error, body
    assert "Traceback" not in response.body.decode("utf-8", "replace")
    return body  # type: ignore[no-any-return]


def challenges(response: tornado.httpclient.HTTPResponse) -> list[str]:
    """Return every ``WWW-Authenticate`` value of ``response``."""
    return response.headers.get_list("WWW-Authenticate")


def assert_no_store(response: tornado.httpclient.HTTPResponse) -> None:
    """Assert the RFC 6749 §5.1 headers that keep a token response out of caches."""
    assert response.headers.get("Cache-Control") == "no-store"
    assert response.headers.get("Pragma") == "no-cache"


def form(**fields: str) -> str:
    """Encode ``fields`` as an ``application/x-www-form-urlencoded`` body."""
    return urllib.parse.urlencode(fields)


def _connect_separately(url: str) -> peewee.Database:
    if url.startswith("sqlite:///"):
        return peewee.SqliteDatabase(urllib.parse.unquote(url[len("sqlite:///") :]))
    return db_url.connect(url, unquote_password=True, unquote_user=True)


@contextmanager
def separate_connection(url: str) -> Iterator[None]:
    """Bind the run and audit models to a new connection while the block runs."""
    other = _connect_separately(url)
    other.connect()
    try:
        with other.bind_ctx([AuditEvent, IntegrationRun], bind_refs=False):
            yield
    finally:
        other.close()


def committed_events(url: str, **where: Any) -> list[AuditEvent]:
    """Return the committed audit events whose fields equal ``where``, oldest first."""
    with separate_connection(url):
        query = AuditEvent.select().order_by(AuditEvent.id)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        return list(query)


def committed_runs(url: str, **where: Any) -> list[IntegrationRun]:
    """Return the committed integration runs whose fields equal ``where``."""
    with separate_connection(url):
        query = IntegrationRun.select().order_by(IntegrationRun.id)
        for name, value in where.items():
            query = query.where(getattr(IntegrationRun, name) == value)
        return list(query)


class CheckCounter:
    """Counts calls to ``PasswordHasher.check`` and passes them through."""

    def __init__(self, gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self._original = gateway.hasher.check
        monkeypatch.setattr(gateway.hasher, "check", self)

    async def __call__(self, password: str, password_hash: str | None) -> bool:
        self.calls += 1
        return await self._original(password, password_hash)
