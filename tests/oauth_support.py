"""Helpers for the OAuth tests: codes, token requests, echo calls and assertions."""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from auth.codes import CodeBinding, create_code
from handlers.gateway import Gateway
from models.base import database
from models.clients import Client
from models.users import User
from tests.support import FORM_TYPE, json_body

# RFC 7636 Appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
REDIRECT_URI = "https://partner.example/callback"
# The redirect URI of the ``public_client`` fixture: loopback, without a port.
LOOPBACK_REDIRECT_URI = "http://127.0.0.1/callback"
ECHO_SCOPE = "integration:echo"


def basic(client_id: str, client_secret: str, encode_parts: bool = True) -> str:
    """Build the header of RFC 6749 §2.3.1: form-encode each part, then Basic."""
    if encode_parts:
        client_id = urllib.parse.quote_plus(client_id)
        client_secret = urllib.parse.quote_plus(client_secret)
    raw = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


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


def code_form(code: str, **extra: str) -> dict[str, str]:
    """Build an authorization_code request. An ``extra`` value "-" drops a field."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": VERIFIER,
    }
    form.update(extra)
    return {name: value for name, value in form.items() if value != "-"}


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


async def request_client_credentials(
    http_client: AsyncHTTPClient,
    base_url: str,
    client_id: str,
    secret: str,
    scope: str = "",
) -> HTTPResponse:
    """Send a client_credentials request and return the response, whatever it is."""
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    return await post_form(
        http_client, base_url + "/o/token/", form, basic(client_id, secret)
    )


async def client_credentials_token(
    http_client: AsyncHTTPClient,
    base_url: str,
    client: Client,
    secret: str,
    scope: str = "",
) -> str:
    """Request a client_credentials token, assert that it was issued and return it."""
    response = await request_client_credentials(
        http_client, base_url, client.client_id, secret, scope
    )
    assert response.code == 200, response.body
    return str(json_body(response)["access_token"])


class OAuthCaller:
    """Calls the served gateway as a partner system: token endpoints and ``echo``."""

    def __init__(
        self, http_client: AsyncHTTPClient, base_url: str, gateway: Gateway
    ) -> None:
        self.http_client = http_client
        self.base_url = base_url
        self.gateway = gateway

    async def post(
        self, path: str, form: dict[str, str] | str, authorization: str | None = None
    ) -> HTTPResponse:
        """POST a form to ``path`` and return the response, whatever its status."""
        return await post_form(
            self.http_client, self.base_url + path, form, authorization
        )

    async def redeem_code(
        self, code: str, authorization: str | None, **extra: str
    ) -> HTTPResponse:
        """Send ``code`` to the token endpoint, with ``extra`` applied to the form."""
        return await self.post("/o/token/", code_form(code, **extra), authorization)

    async def exchange_code(
        self, code: str, authorization: str | None, **extra: str
    ) -> dict[str, Any]:
        """Redeem ``code``, assert that tokens were issued and return the body."""
        response = await self.redeem_code(code, authorization, **extra)
        assert response.code == 200, response.body
        return dict(json_body(response))

    async def issue_tokens(
        self, client: Client, secret: str, user: User, scope: str = ECHO_SCOPE
    ) -> dict[str, Any]:
        """Redeem a new authorization code of ``client`` and return the tokens."""
        code = issue_code(self.gateway, client, user, scope=scope)
        return await self.exchange_code(code, basic(client.client_id, secret))

    async def issue_public_tokens(self, client: Client, user: User) -> dict[str, Any]:
        """Redeem a new code of the public ``client``, which names itself."""
        code = issue_code(
            self.gateway, client, user, redirect_uri=LOOPBACK_REDIRECT_URI
        )
        return await self.exchange_code(
            code,
            None,
            client_id=client.client_id,
            redirect_uri=LOOPBACK_REDIRECT_URI,
        )

    async def refresh(
        self, client: Client, secret: str, refresh_token: str, **extra: str
    ) -> HTTPResponse:
        """Send a refresh_token request with Basic client credentials."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        form.update(extra)
        return await self.post("/o/token/", form, basic(client.client_id, secret))

    async def request_client_credentials(
        self, client_id: str, secret: str, scope: str = ""
    ) -> HTTPResponse:
        return await request_client_credentials(
            self.http_client, self.base_url, client_id, secret, scope
        )

    async def client_credentials_token(
        self, client: Client, secret: str, scope: str = ""
    ) -> str:
        return await client_credentials_token(
            self.http_client, self.base_url, client, secret, scope
        )

    async def call_echo(self, token: str) -> HTTPResponse:
        """Execute ``echo`` with ``token`` as the Bearer token."""
        return await self.http_client.fetch(
            self.base_url + "/integrations/execute/echo",
            method="POST",
            body="{}",
            headers={"Authorization": f"Bearer {token}"},
            raise_error=False,
        )

    async def echo_status(self, token: str) -> int:
        """Execute ``echo`` with ``token`` as the Bearer token and return the status."""
        response = await self.call_echo(token)
        return int(response.code)


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
