"""Helpers for the OAuth tests: codes, token requests and assertions."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from auth.codes import CodeBinding, create_code
from handlers.gateway import Gateway
from models.base import database
from models.clients import Client
from models.users import User

# RFC 7636 Appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
REDIRECT_URI = "https://partner.example/callback"
ECHO_SCOPE = "integration:echo"
FORM_TYPE = "application/x-www-form-urlencoded"


def issue_code(
    gateway: Gateway,
    client: Client,
    user: User,
    *,
    scope: str = ECHO_SCOPE,
    challenge: str | None = CHALLENGE,
    redirect_uri: str = REDIRECT_URI,
    redirect_uri_sent: bool = True,
) -> str:
    """Store an authorization code as an approved request would, and return it."""
    binding = CodeBinding(
        client_id=client.client_id,
        user=user,
        redirect_uri=redirect_uri,
        redirect_uri_sent=redirect_uri_sent,
        scope=scope,
        code_challenge=challenge,
        code_challenge_method="S256" if challenge else None,
    )
    with database.atomic():
        return create_code(
            binding, gateway.settings.authorization_code_lifetime_seconds
        )


async def post_form(
    http_client: AsyncHTTPClient,
    url: str,
    form: dict[str, str] | str,
    authorization: str | None = None,
) -> HTTPResponse:
    """POST a form body and return the response, whatever its status."""
    body = form if isinstance(form, str) else urllib.parse.urlencode(form)
    headers = {"Content-Type": FORM_TYPE}
    if authorization is not None:
        headers["Authorization"] = authorization
    return await http_client.fetch(
        url, method="POST", body=body, headers=headers, raise_error=False
    )


def json_body(response: HTTPResponse) -> Any:
    return json.loads(response.body)


def assert_oauth_error(
    response: HTTPResponse, status: int, error: str, challenge: bool = False
) -> None:
    """Assert an RFC 6749 §5.2 error response with its no-store headers."""
    assert response.code == status, response.body
    assert json_body(response)["error"] == error
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    if challenge:
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
    else:
        assert "WWW-Authenticate" not in response.headers
