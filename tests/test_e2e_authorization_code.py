"""The authorization code flow end to end: a real server, browser and client.

requests-oauthlib's ``OAuth2Session`` (with PKCE) builds the authorization
URL; headless Chromium logs in and approves; the session exchanges the code,
calls ``echo``, refreshes and revokes. A small HTTP server on a loopback port
plays the client's redirect URI. Without
``/usr/bin/chromium`` these tests are skipped, unless
``GATEWAY_REQUIRE_BROWSER=1`` makes them fail.
"""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests_oauthlib import OAuth2Session

from tests.pages import log_in, screenshot

PASSWORD = "alice password 123"
# Public clients register the loopback URI without a port; the port the
# callback server got matches it (RFC 8252 §7.3).
PORTLESS_REDIRECT_URI = "http://127.0.0.1/callback"
SCOPE = ["integration:echo"]

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


class CallbackHandler(http.server.BaseHTTPRequestHandler):
    """The client application's redirect URI, which returns 200 for every GET."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        body = b"callback received"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


@pytest.fixture
def redirect_uri() -> Iterator[str]:
    """The URI of a callback server on a free loopback port, for the test."""
    callback = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CallbackHandler)
    thread = threading.Thread(target=callback.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{callback.server_address[1]}/callback"
    callback.shutdown()
    callback.server_close()
    thread.join(timeout=5)


@pytest.fixture
def server(gateway_process: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A gateway with user ``alice``, who may execute ``echo``."""
    # oauthlib rejects http unless this is set; the server listens on loopback.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    gateway_process.cli("create-user", "alice", "--password-stdin", stdin=PASSWORD)
    gateway_process.cli("grant", "alice", "echo")
    return gateway_process


def create_app(server: Any, client_type: str, redirect_uri: str) -> dict[str, Any]:
    registered = redirect_uri
    if client_type == "public":
        registered = PORTLESS_REDIRECT_URI
    return dict(
        server.cli_json(
            "create-app",
            "--name",
            f"Partner {client_type} app",
            "--grant-type",
            "authorization-code",
            "--client-type",
            client_type,
            "--redirect-uri",
            registered,
        )
    )


def approve_in_browser(
    page: Any,
    authorization_url: str,
    request: pytest.FixtureRequest,
    client_type: str,
    redirect_uri: str,
) -> str:
    """Log in as alice, approve on the consent page; return the callback URL."""
    page.goto(authorization_url)
    assert urllib.parse.urlsplit(page.url).path == "/login"
    log_in(page, "alice", PASSWORD)

    page.wait_for_selector("#approve")
    assert urllib.parse.urlsplit(page.url).path == "/o/authorize/"
    assert page.inner_text("#client-name") == f"Partner {client_type} app"
    assert page.inner_text("#consent-user") == "alice"
    assert "integration:echo" in page.inner_text("#consent-scopes")
    assert page.inner_text("#redirect-uri") == redirect_uri
    screenshot(page, request, f"consent-{client_type}")

    with page.expect_navigation(url=redirect_uri + "**"):
        page.click("#approve")
    assert page.problems == []
    return str(page.url)


def call_echo(session: Any, base_url: str) -> requests.Response:
    return session.post(base_url + "/integrations/execute/echo", json={"n": 1})


@pytest.mark.parametrize("client_type", ["confidential", "public"])
def test_authorization_code_flow(
    server: Any,
    page: Any,
    redirect_uri: str,
    request: pytest.FixtureRequest,
    client_type: str,
) -> None:
    app = create_app(server, client_type, redirect_uri)
    base_url = server.start()
    client_id = app["client_id"]
    secret = app["client_secret"]
    # Confidential: Basic client_id:secret. Public: Basic client_id with an
    # empty password, which is what requests-oauthlib sends without a secret.
    basic = (client_id, secret or "")
    session = OAuth2Session(
        client_id, redirect_uri=redirect_uri, scope=SCOPE, pkce="S256"
    )
    authorization_url, state = session.authorization_url(base_url + "/o/authorize/")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(authorization_url).query)
    assert query["code_challenge_method"] == ["S256"]

    callback = approve_in_browser(
        page, authorization_url, request, client_type, redirect_uri
    )

    returned = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
    assert returned["state"] == state
    assert returned["iss"] == base_url
    token = session.fetch_token(
        base_url + "/o/token/",
        authorization_response=callback,
        client_secret=secret,
    )
    assert token["token_type"] == "Bearer"
    assert token["scope"] == SCOPE

    echo = call_echo(session, base_url)
    assert echo.status_code == 200, echo.text
    assert echo.json()["principal"] == {
        "username": "alice",
        "kind": "standard",
        "auth_method": "bearer",
        "client_id": client_id,
    }

    first_refresh_token = token["refresh_token"]
    refreshed = session.refresh_token(
        base_url + "/o/token/", auth=requests.auth.HTTPBasicAuth(*basic)
    )
    assert refreshed["refresh_token"] != first_refresh_token
    assert refreshed["access_token"] != token["access_token"]
    assert call_echo(session, base_url).status_code == 200

    revoked = requests.post(
        base_url + "/o/revoke/",
        data={"token": refreshed["refresh_token"]},
        auth=basic,
        timeout=10,
    )
    assert revoked.status_code == 200
    after = call_echo(session, base_url)
    assert after.status_code == 401
    assert after.json()["error"] == "invalid_token"

    account = page.goto(base_url + "/")
    assert account is not None and account.status == 200
    assert f"Partner {client_type} app" in page.inner_text("#my-authorizations")
    screenshot(page, request, f"account-authorizations-{client_type}")
    log = server.log()
    for secret_value in (
        token["access_token"],
        first_refresh_token,
        refreshed["refresh_token"],
        returned["code"],
        secret or "no secret for a public client",
    ):
        assert secret_value not in log


def test_remembered_consent_and_revocation(
    server: Any, page: Any, redirect_uri: str, request: pytest.FixtureRequest
) -> None:
    """A second authorization skips the page until alice revokes it."""
    app = create_app(server, "confidential", redirect_uri)
    base_url = server.start()
    first = OAuth2Session(
        app["client_id"], redirect_uri=redirect_uri, scope=SCOPE, pkce="S256"
    )
    url, _ = first.authorization_url(base_url + "/o/authorize/")
    approve_in_browser(page, url, request, "confidential", redirect_uri)

    second = OAuth2Session(
        app["client_id"], redirect_uri=redirect_uri, scope=SCOPE, pkce="S256"
    )
    url, state = second.authorization_url(base_url + "/o/authorize/")
    with page.expect_navigation(url=redirect_uri + "**"):
        page.goto(url)
    assert (
        dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(page.url).query))["state"]
        == state
    )
    token = second.fetch_token(
        base_url + "/o/token/",
        authorization_response=page.url,
        client_secret=app["client_secret"],
    )

    page.goto(base_url + "/")
    with page.expect_navigation():
        page.click("#my-authorizations button[type=submit]")
    assert "You have not authorized any application." in page.content()
    assert call_echo(second, base_url).status_code == 401

    third = OAuth2Session(
        app["client_id"], redirect_uri=redirect_uri, scope=SCOPE, pkce="S256"
    )
    url, _ = third.authorization_url(base_url + "/o/authorize/")
    page.goto(url)
    assert page.is_visible("#approve")
    assert token["refresh_token"]


def test_staff_revokes_refresh_token(
    server: Any, page: Any, redirect_uri: str, request: pytest.FixtureRequest
) -> None:
    """Staff find alice's refresh token on the Tokens page and revoke it."""
    server.cli("create-user", "admin", "--staff", "--password-stdin", stdin=PASSWORD)
    app = create_app(server, "confidential", redirect_uri)
    base_url = server.start()
    session = OAuth2Session(
        app["client_id"], redirect_uri=redirect_uri, scope=SCOPE, pkce="S256"
    )
    url, _ = session.authorization_url(base_url + "/o/authorize/")
    callback = approve_in_browser(page, url, request, "confidential", redirect_uri)
    token = session.fetch_token(
        base_url + "/o/token/",
        authorization_response=callback,
        client_secret=app["client_secret"],
    )
    assert call_echo(session, base_url).status_code == 200

    page.context.clear_cookies()
    page.goto(base_url + "/login")
    log_in(page, "admin", PASSWORD)
    page.click("nav >> text=Tokens")
    page.click("#refresh-tokens-tab")
    page.fill("#client_id", app["client_id"])
    page.click("text=Filter")
    rows = page.locator("#refresh-tokens tbody tr")
    assert rows.count() == 1
    assert "alice" in rows.inner_text()
    assert "integration:echo" in rows.inner_text()
    assert token["refresh_token"] not in page.content()
    screenshot(page, request, "refresh-tokens")

    with page.expect_navigation():
        rows.locator("button[type=submit]").click()
    assert "were revoked" in page.inner_text("#notice")
    assert "No active refresh token." in page.content()
    assert page.problems == []

    rejected = requests.post(
        base_url + "/o/token/",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(app["client_id"], app["client_secret"]),
        timeout=10,
    )
    assert rejected.status_code == 400
    assert rejected.json()["error"] == "invalid_grant"
    after = call_echo(session, base_url)
    assert after.status_code == 401
    assert after.json()["error"] == "invalid_token"
    page.goto(base_url + "/admin/audit?action=token.revoke")
    assert "refresh token of alice" in page.inner_text("#audit-events")
    assert token["refresh_token"] not in server.log()
