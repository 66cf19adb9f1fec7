"""Token revocation at ``/o/revoke/`` (RFC 7009)."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.gateway import Gateway
from models.audit import AuditEvent
from models.clients import Client
from models.users import User
from tests.conftest import basic_header
from tests.oauth_support import (
    REDIRECT_URI,
    VERIFIER,
    assert_oauth_error,
    issue_code,
    json_body,
    post_form,
)


async def issue_tokens(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    client: Client,
    secret: str,
    user: User,
) -> dict[str, Any]:
    """Redeem a new authorization code of ``client`` and return the tokens."""
    code = issue_code(gateway, client, user)
    response = await post_form(
        http_client,
        base_url + "/o/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": VERIFIER,
        },
        basic_header(client.client_id, secret),
    )
    assert response.code == 200, response.body
    return dict(json_body(response))


async def revoke(
    http_client: Any,
    base_url: str,
    form: dict[str, str] | str,
    authorization: str | None,
) -> Any:
    return await post_form(http_client, base_url + "/o/revoke/", form, authorization)


async def echo_status(http_client: Any, base_url: str, token: str) -> int:
    response = await http_client.fetch(
        base_url + "/integrations/execute/echo",
        method="POST",
        body="{}",
        headers={"Authorization": f"Bearer {token}"},
        raise_error=False,
    )
    return int(response.code)


def assert_revoked_ok(response: Any) -> None:
    assert response.code == 200, response.body
    assert response.body == b""
    assert response.headers["Cache-Control"] == "no-store"
    # An empty body has no media type; Tornado's default would say text/html.
    assert "Content-Type" not in response.headers


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token", "bogus"])
@pytest.mark.gen_test
async def test_revoke_access_token(
    http_client: Any,
    base_url: str,
    ac_client: tuple[Client, str],
    gateway: Gateway,
    standard_user: User,
    hint: str | None,
) -> None:
    client, secret = ac_client
    tokens = await issue_tokens(
        http_client, base_url, gateway, *ac_client, standard_user
    )
    form = {"token": tokens["access_token"]}
    if hint:
        form["token_type_hint"] = hint

    response = await revoke(
        http_client, base_url, form, basic_header(client.client_id, secret)
    )

    assert_revoked_ok(response)
    assert await echo_status(http_client, base_url, tokens["access_token"]) == 401
    # Revoking an access token leaves the refresh token usable.
    refreshed = await post_form(
        http_client,
        base_url + "/o/token/",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        basic_header(client.client_id, secret),
    )
    assert refreshed.code == 200
    events = AuditEvent.select().where(AuditEvent.action == "token.revoke")
    assert [event.target for event in events] == ["access_token"]


@pytest.mark.gen_test
async def test_revoke_refresh_token_ends_grant(
    http_client: Any,
    base_url: str,
    ac_client: tuple[Client, str],
    gateway: Gateway,
    standard_user: User,
) -> None:
    client, secret = ac_client
    tokens = await issue_tokens(
        http_client, base_url, gateway, *ac_client, standard_user
    )
    auth = basic_header(client.client_id, secret)

    response = await revoke(
        http_client, base_url, {"token": tokens["refresh_token"]}, auth
    )

    assert_revoked_ok(response)
    assert await echo_status(http_client, base_url, tokens["access_token"]) == 401
    refreshed = await post_form(
        http_client,
        base_url + "/o/token/",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth,
    )
    assert_oauth_error(refreshed, 400, "invalid_grant")


@pytest.mark.parametrize(
    "token", ["unknown-token", "a.b.c", "x" * 9000], ids=["opaque", "jwt", "long"]
)
@pytest.mark.gen_test
async def test_unknown_token_is_ok(
    http_client: Any, base_url: str, ac_client: tuple[Client, str], token: str
) -> None:
    client, secret = ac_client

    response = await revoke(
        http_client, base_url, {"token": token}, basic_header(client.client_id, secret)
    )

    assert_revoked_ok(response)


@pytest.mark.gen_test
async def test_revoking_twice_is_ok(
    http_client: Any,
    base_url: str,
    ac_client: tuple[Client, str],
    gateway: Gateway,
    standard_user: User,
) -> None:
    client, secret = ac_client
    tokens = await issue_tokens(
        http_client, base_url, gateway, *ac_client, standard_user
    )
    auth = basic_header(client.client_id, secret)
    await revoke(http_client, base_url, {"token": tokens["refresh_token"]}, auth)

    again = await revoke(
        http_client, base_url, {"token": tokens["refresh_token"]}, auth
    )

    assert_revoked_ok(again)


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
@pytest.mark.gen_test
async def test_token_of_other_client_is_refused(
    http_client: Any,
    base_url: str,
    make_client: Any,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
    kind: str,
) -> None:
    tokens = await issue_tokens(
        http_client, base_url, gateway, *ac_client, standard_user
    )
    other, other_secret = make_client(
        grant_types=["authorization_code"], redirect_uris=[REDIRECT_URI]
    )

    response = await revoke(
        http_client,
        base_url,
        {"token": tokens[kind]},
        basic_header(other.client_id, other_secret),
    )

    assert_oauth_error(response, 403, "unauthorized_client")
    assert await echo_status(http_client, base_url, tokens["access_token"]) == 200


@pytest.mark.gen_test
async def test_revocation_needs_client_authentication(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    tokens = await issue_tokens(
        http_client, base_url, gateway, *ac_client, standard_user
    )
    response = await revoke(
        http_client, base_url, {"token": tokens["access_token"]}, None
    )

    assert_oauth_error(response, 401, "invalid_client", challenge=True)
    assert await echo_status(http_client, base_url, tokens["access_token"]) == 200


@pytest.mark.gen_test
async def test_wrong_secret_is_invalid_client(
    http_client: Any,
    base_url: str,
    ac_client: tuple[Client, str],
    gateway: Gateway,
    standard_user: User,
) -> None:
    tokens = await issue_tokens(
        http_client, base_url, gateway, *ac_client, standard_user
    )
    client, _ = ac_client

    response = await revoke(
        http_client,
        base_url,
        {"token": tokens["access_token"]},
        basic_header(client.client_id, "wrong"),
    )

    assert_oauth_error(response, 401, "invalid_client", challenge=True)
    assert await echo_status(http_client, base_url, tokens["access_token"]) == 200
    failures = AuditEvent.select().where(AuditEvent.action == "auth.failure")
    assert failures.count() == 1


@pytest.mark.gen_test
async def test_public_client_revokes_its_own_token(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    public_client: Client,
    standard_user: User,
) -> None:
    redirect_uri = "http://127.0.0.1/callback"
    code = issue_code(gateway, public_client, standard_user, redirect_uri=redirect_uri)
    issued = json_body(
        await post_form(
            http_client,
            base_url + "/o/token/",
            {
                "grant_type": "authorization_code",
                "code": code,
                "client_id": public_client.client_id,
                "redirect_uri": redirect_uri,
                "code_verifier": VERIFIER,
            },
        )
    )

    response = await revoke(
        http_client,
        base_url,
        {"token": issued["refresh_token"], "client_id": public_client.client_id},
        None,
    )

    assert_revoked_ok(response)
    assert await echo_status(http_client, base_url, issued["access_token"]) == 401


@pytest.mark.gen_test
async def test_missing_token_is_invalid_request(
    http_client: Any, base_url: str, ac_client: tuple[Client, str]
) -> None:
    client, secret = ac_client

    response = await revoke(
        http_client, base_url, {}, basic_header(client.client_id, secret)
    )

    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.gen_test
async def test_query_parameters_are_rejected(
    http_client: Any,
    base_url: str,
    ac_client: tuple[Client, str],
    gateway: Gateway,
    standard_user: User,
) -> None:
    client, secret = ac_client
    tokens = await issue_tokens(
        http_client, base_url, gateway, *ac_client, standard_user
    )

    response = await post_form(
        http_client,
        base_url + "/o/revoke/?token=" + tokens["access_token"],
        {},
        basic_header(client.client_id, secret),
    )

    assert_oauth_error(response, 400, "invalid_request")
    assert await echo_status(http_client, base_url, tokens["access_token"]) == 200


@pytest.mark.gen_test
async def test_revocation_rejects_get(
    app: Any, http_client: Any, base_url: str
) -> None:
    response = await http_client.fetch(base_url + "/o/revoke/", raise_error=False)

    assert response.code == 405
    assert response.headers["Cache-Control"] == "no-store"
