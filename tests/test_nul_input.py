"""Request values with a NUL byte: rejected or ignored, never a database error.

PostgreSQL rejects a NUL in a string literal, so every test here matters most
on PostgreSQL; the ``database_url`` fixture runs each on both backends.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from models.users import User
from tests.conftest import PASSWORD, basic_header
from tests.oauth_support import assert_oauth_error, json_body, post_form
from tests.pages import PageClient, assert_page_headers, text
from tests.support import BASIC_CHALLENGE, assert_error, challenges, fetch

NUL = "a\x00b"


@pytest.mark.gen_test
async def test_login_username_with_nul(pages: PageClient, standard_user: User) -> None:
    await pages.get("/login")

    response = await pages.post("/login", {"username": NUL, "password": PASSWORD})

    assert response.code == 422
    assert_page_headers(response)
    assert "The username or password is invalid." in text(response)


@pytest.mark.gen_test
async def test_basic_username_with_nul(
    http_client: Any, base_url: str, app: Any
) -> None:
    response = await fetch(
        http_client,
        base_url + "/integrations/execute/echo",
        method="POST",
        body="{}",
        headers={"Authorization": basic_header(NUL, PASSWORD)},
    )

    assert_error(response, 400, "invalid_request")
    assert challenges(response) == []


@pytest.mark.gen_test
async def test_basic_password_with_nul(
    http_client: Any, base_url: str, service_account: User
) -> None:
    response = await fetch(
        http_client,
        base_url + "/integrations/execute/echo",
        method="POST",
        body="{}",
        headers={"Authorization": basic_header("partner-sa", NUL)},
    )

    assert_error(response, 401, "unauthorized")
    assert BASIC_CHALLENGE in challenges(response)


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "client_credentials", "client_id": NUL},
        {"grant_type": "authorization_code", "client_id": NUL, "code": NUL},
        {"grant_type": "refresh_token", "client_id": NUL, "refresh_token": NUL},
    ],
)
@pytest.mark.gen_test
async def test_token_endpoint_nul_values(
    http_client: Any, base_url: str, app: Any, form: dict[str, str]
) -> None:
    response = await post_form(http_client, base_url + "/o/token/", form)

    assert_oauth_error(response, 400, "invalid_client")


@pytest.mark.gen_test
async def test_token_endpoint_nul_code(
    http_client: Any, base_url: str, ac_client: tuple[Any, str]
) -> None:
    client, secret = ac_client
    form = {"grant_type": "authorization_code", "code": NUL, "code_verifier": NUL}

    response = await post_form(
        http_client,
        base_url + "/o/token/",
        form,
        basic_header(client.client_id, secret),
    )

    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.gen_test
async def test_revoke_nul_token(
    http_client: Any, base_url: str, cc_client: tuple[Any, str]
) -> None:
    client, secret = cc_client

    response = await post_form(
        http_client,
        base_url + "/o/revoke/",
        {"token": NUL, "token_type_hint": NUL},
        basic_header(client.client_id, secret),
    )

    assert response.code == 200, response.body
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.gen_test
async def test_introspect_nul_token(
    http_client: Any, base_url: str, make_client: Any, service_account: User
) -> None:
    client, secret = make_client(
        service_account=service_account, is_resource_server=True
    )

    response = await post_form(
        http_client,
        base_url + "/o/introspect/",
        {"token": NUL, "token_type_hint": NUL},
        basic_header(client.client_id, secret),
    )

    assert response.code == 200, response.body
    assert json_body(response) == {"active": False}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/admin/users?kind={nul}", 200),
        ("/admin/tokens?client_id={nul}&username={nul}", 200),
        ("/admin/tokens?kind={nul}&client_id={nul}&username={nul}", 200),
        ("/admin/tokens?kind=refresh_token&client_id={nul}&username={nul}", 200),
        ("/admin/audit?actor={nul}&action={nul}&integration={nul}", 200),
        ("/admin/audit?since={nul}", 400),
        ("/admin/users/1?notice={nul}", 200),
        ("/admin/integrations/echo?page={nul}", 200),
    ],
)
@pytest.mark.gen_test
async def test_admin_filters_with_nul(
    staff_user: User,
    login_as: Callable[[str], Awaitable[PageClient]],
    path: str,
    status: int,
) -> None:
    pages = await login_as("sam")

    response = await pages.get(path.format(nul=urllib.parse.quote(NUL)))

    assert response.code == status, text(response)[:300]
    assert_page_headers(response)


@pytest.mark.gen_test
async def test_audit_export_with_nul(
    staff_user: User, login_as: Callable[[str], Awaitable[PageClient]]
) -> None:
    pages = await login_as("sam")

    response = await pages.get("/admin/audit.csv?actor=" + urllib.parse.quote(NUL))

    assert response.code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=UTF-8"
    assert text(response).startswith("created_at,actor,")


@pytest.mark.parametrize(
    ("path", "fields", "status", "location"),
    [
        (
            "/admin/users/new",
            {
                "username": NUL,
                "kind": NUL,
                "vendor": NUL,
                "password": NUL,
                "password_confirm": NUL,
            },
            422,
            None,
        ),
        (
            "/admin/applications/new",
            {
                "name": NUL,
                "client_type": NUL,
                "grant_types": NUL,
                "redirect_uris": NUL,
                "service_account": NUL,
                "pending": NUL,
            },
            422,
            None,
        ),
        ("/admin/tokens/revoke", {"jti": NUL}, 303, "/admin/tokens"),
        (
            "/admin/tokens/refresh/revoke",
            {"grant_id": NUL},
            303,
            "/admin/tokens?kind=refresh_token",
        ),
        (
            "/admin/users/1/permissions",
            {NUL: "on", "echo:" + NUL: "on"},
            303,
            "/admin/users/1?notice=permissions",
        ),
        (
            "/admin/users/1/password",
            {"password": NUL, "password_confirm": NUL},
            422,
            None,
        ),
        # The switch accepts only 0 or 1, so a NUL changes nothing.
        ("/admin/integrations/echo/enabled", {"enabled": NUL}, 400, None),
    ],
)
@pytest.mark.gen_test
async def test_admin_forms_with_nul(
    staff_user: User,
    login_as: Callable[[str], Awaitable[PageClient]],
    path: str,
    fields: dict[str, str],
    status: int,
    location: str | None,
) -> None:
    pages = await login_as("sam")
    await pages.get("/admin/users/new")

    response = await pages.post(path, fields)

    assert response.code == status, text(response)[:300]
    assert response.headers.get("Location") == location
    assert response.headers["Cache-Control"] == "no-store"
    if location is None:
        assert_page_headers(response)
