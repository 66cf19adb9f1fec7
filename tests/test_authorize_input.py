"""``/o/authorize/`` with hostile input: white space, NUL bytes, long requests."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from handlers.gateway import Gateway
from models.clients import AUTHORIZATION_CODE, Client
from models.codes import AuthorizationCode
from models.users import User
from tests.conftest import PASSWORD
from tests.pages import PageClient, assert_page_headers, error_code, text
from tests.test_authorize_endpoint import approve, authorize_path, redirect_query

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
