"""``/o/authorize/`` with hostile input: white space, NUL bytes, long requests."""

from __future__ import annotations

import html
import logging
import re
import urllib.parse
from collections.abc import Callable

import pytest

from auth.authorization import MAX_STATE_LENGTH
from auth.next_path import MAX_NEXT_LENGTH
from handlers.gateway import Gateway
from models.clients import AUTHORIZATION_CODE, Client
from models.codes import AuthorizationCode
from models.users import User
from tests.conftest import PASSWORD
from tests.oauth_support import REDIRECT_URI
from tests.pages import PageClient, assert_page_headers, error_code, text
from tests.test_authorize_endpoint import (
    STATE,
    approve,
    authorize_path,
    redirect_query,
)

LOOPBACK_URI = "http://127.0.0.1/callback"
REQUESTED_URI = "http://127.0.0.1:9999/callback"


@pytest.fixture
def loopback_client(make_client: Callable[..., tuple[Client, str | None]]) -> Client:
    """A confidential client registered with a loopback redirect URI."""
    client, _ = make_client(
        grant_types=[AUTHORIZATION_CODE], redirect_uris=[LOOPBACK_URI]
    )
    return client


async def approve_once(pages: PageClient, client: Client) -> None:
    """Log in as alice and approve ``client`` once, so that consent is remembered."""
    await pages.login("alice", PASSWORD)
    approved = await approve(pages, authorize_path(client, redirect_uri=REQUESTED_URI))
    assert approved.code == 303
    assert "code" in redirect_query(approved, REQUESTED_URI)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:9999\n/callback",
        "http://127.0.0.1:9999/callback\n",
        "http://127.0.0.1:9999\r\n/callback",
        "http://127.0.0.1:9999\t/callback",
        "http://127.0.0.1: 9999/callback",
        "http://127.0.0.1:9999/callback\x00",
        "http://127.0.0.1:9999/callback\u2028",
    ],
)
@pytest.mark.gen_test
async def test_redirect_uri_white_space_rejected(
    pages: PageClient,
    loopback_client: Client,
    standard_user: User,
    redirect_uri: str,
) -> None:
    await approve_once(pages, loopback_client)
    codes_before = AuthorizationCode.select().count()

    response = await pages.get(
        authorize_path(loopback_client, redirect_uri=redirect_uri)
    )

    assert response.code == 400
    assert "Location" not in response.headers
    assert error_code(response) == "invalid_request"
    assert "white space or control characters" in text(response)
    assert_page_headers(response)
    assert AuthorizationCode.select().count() == codes_before


@pytest.mark.gen_test
async def test_unsafe_location_stores_and_logs_no_code(
    pages: PageClient,
    gateway: Gateway,
    loopback_client: Client,
    standard_user: User,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every part of a real location is percent-encoded, so no request can
    # make it unsafe: the endpoint is made to build a broken one instead.
    await approve_once(pages, loopback_client)
    codes_before = AuthorizationCode.select().count()
    build = gateway.authorization.create_code_redirect

    def build_with_line_break(*args: object) -> str:
        return build(*args) + "\r\nX-Injected: 1"  # type: ignore[arg-type]

    monkeypatch.setattr(
        gateway.authorization, "create_code_redirect", build_with_line_break
    )
    caplog.set_level(logging.DEBUG)

    response = await pages.get(
        authorize_path(loopback_client, redirect_uri=REQUESTED_URI)
    )

    assert response.code == 500
    assert "Location" not in response.headers
    assert "X-Injected" not in response.headers
    assert error_code(response) == "server_error"
    assert_page_headers(response)
    assert AuthorizationCode.select().count() == codes_before
    assert "code=" not in caplog.text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("client_id", ["a\x00b", "\x00", "a\nb", "a" * 65])
@pytest.mark.gen_test
async def test_client_id_syntax_checked_on_get(
    pages: PageClient, client_id: str
) -> None:
    response = await pages.get(authorize_path(client_id))

    assert response.code == 400
    assert "Location" not in response.headers
    assert error_code(response) == "invalid_request"
    assert "The client is unknown." in text(response)
    assert_page_headers(response)


@pytest.mark.gen_test
async def test_client_id_syntax_checked_on_consent_post(
    pages: PageClient, standard_user: User
) -> None:
    await pages.login("alice", PASSWORD)
    await pages.get("/")

    response = await pages.post(
        "/o/authorize/",
        {
            "response_type": "code",
            "client_id": "a\x00b",
            "redirect_uri": LOOPBACK_URI,
            "scope": "integration:echo",
            "decision": "approve",
        },
    )

    assert response.code == 400
    assert "Location" not in response.headers
    assert error_code(response) == "invalid_request"
    assert "The client is unknown." in text(response)
    assert_page_headers(response)
    assert AuthorizationCode.select().count() == 0


@pytest.mark.gen_test
async def test_revoke_authorization_nul_client_id(
    pages: PageClient, standard_user: User
) -> None:
    await pages.login("alice", PASSWORD)
    await pages.get("/")

    response = await pages.post("/authorizations/revoke", {"client_id": "a\x00b"})

    assert response.code == 404
    assert error_code(response) == "not_found"
    assert_page_headers(response)


@pytest.mark.gen_test
async def test_longest_state_survives_login(
    pages: PageClient, ac_client: tuple[Client, str], standard_user: User
) -> None:
    # 1024 characters of four UTF-8 bytes each: 12 characters apiece once
    # percent-encoded in the request, and 20 in the login page's next.
    state = "\U0001f600" * MAX_STATE_LENGTH
    client, _ = ac_client
    path = authorize_path(client, state=state)

    response = await pages.get(path)

    assert response.code == 302
    login_url = response.headers["Location"]
    assert login_url.startswith("/login?next=")
    login_page = await pages.get(login_url)
    assert login_page.code == 200
    assert_page_headers(login_page)
    hidden = re.search(r'name="next" value="([^"]*)"', text(login_page))
    assert hidden is not None
    next_path = html.unescape(hidden.group(1))
    assert next_path == path
    login = await pages.post(
        "/login", {"username": "alice", "password": PASSWORD, "next": next_path}
    )
    assert login.code == 303
    assert login.headers["Location"] == path
    approved = await approve(pages, path)
    assert approved.code == 303
    query = redirect_query(approved, REDIRECT_URI)
    assert query["state"] == state
    assert "code" in query


@pytest.mark.gen_test
async def test_too_long_to_resume_redirects_error(
    pages: PageClient, ac_client: tuple[Client, str]
) -> None:
    # Parameters the endpoint does not read are ignored, so padding with one
    # can make any request too long for the login page's next.
    client, _ = ac_client
    padding = urllib.parse.urlencode({"padding": "p" * MAX_NEXT_LENGTH})

    response = await pages.get(authorize_path(client) + "&" + padding)

    assert response.code == 302
    query = redirect_query(response, REDIRECT_URI)
    assert query["error"] == "invalid_request"
    assert query["state"] == STATE
    assert "code" not in query
