"""Token revocation at ``/o/revoke/`` (RFC 7009)."""

from __future__ import annotations

from typing import Any

import pytest

from models.audit import AuditEvent
from models.clients import Client
from models.users import User
from tests.oauth_support import (
    REDIRECT_URI,
    OAuthCaller,
    assert_oauth_error,
    basic,
)


def assert_revoked_ok(response: Any) -> None:
    assert response.code == 200, response.body
    assert response.body == b""
    assert response.headers["Cache-Control"] == "no-store"
    # An empty body has no media type; Tornado's default would say text/html.
    assert "Content-Type" not in response.headers


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token", "bogus"])
@pytest.mark.gen_test
async def test_revoke_access_token(
    oauth: OAuthCaller,
    ac_client: tuple[Client, str],
    standard_user: User,
    hint: str | None,
) -> None:
    client, secret = ac_client
    tokens = await oauth.issue_tokens(client, secret, standard_user)
    form = {"token": tokens["access_token"]}
    if hint:
        form["token_type_hint"] = hint

    response = await oauth.post("/o/revoke/", form, basic(client.client_id, secret))

    assert_revoked_ok(response)
    assert await oauth.echo_status(tokens["access_token"]) == 401
    # Revoking an access token leaves the refresh token usable.
    refreshed = await oauth.refresh(client, secret, tokens["refresh_token"])
    assert refreshed.code == 200
    events = AuditEvent.select().where(AuditEvent.action == "token.revoke")
    assert [event.target for event in events] == ["access_token"]


@pytest.mark.gen_test
async def test_revoke_refresh_token_ends_grant(
    oauth: OAuthCaller, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, secret = ac_client
    tokens = await oauth.issue_tokens(client, secret, standard_user)
    auth = basic(client.client_id, secret)

    response = await oauth.post("/o/revoke/", {"token": tokens["refresh_token"]}, auth)

    assert_revoked_ok(response)
    assert await oauth.echo_status(tokens["access_token"]) == 401
    refreshed = await oauth.refresh(client, secret, tokens["refresh_token"])
    assert_oauth_error(refreshed, 400, "invalid_grant")


@pytest.mark.parametrize(
    "token", ["unknown-token", "a.b.c", "x" * 9000], ids=["opaque", "jwt", "long"]
)
@pytest.mark.gen_test
async def test_unknown_token_is_ok(
    oauth: OAuthCaller, ac_client: tuple[Client, str], token: str
) -> None:
    client, secret = ac_client

    response = await oauth.post(
        "/o/revoke/", {"token": token}, basic(client.client_id, secret)
    )

    assert_revoked_ok(response)


@pytest.mark.gen_test
async def test_revoking_twice_is_ok(
    oauth: OAuthCaller, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, secret = ac_client
    tokens = await oauth.issue_tokens(client, secret, standard_user)
    auth = basic(client.client_id, secret)
    await oauth.post("/o/revoke/", {"token": tokens["refresh_token"]}, auth)

    again = await oauth.post("/o/revoke/", {"token": tokens["refresh_token"]}, auth)

    assert_revoked_ok(again)


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
@pytest.mark.gen_test
async def test_token_of_other_client_is_refused(
    oauth: OAuthCaller,
    make_client: Any,
    ac_client: tuple[Client, str],
    standard_user: User,
    kind: str,
) -> None:
    tokens = await oauth.issue_tokens(*ac_client, standard_user)
    other, other_secret = make_client(
        grant_types=["authorization_code"], redirect_uris=[REDIRECT_URI]
    )

    response = await oauth.post(
        "/o/revoke/", {"token": tokens[kind]}, basic(other.client_id, other_secret)
    )

    assert_oauth_error(response, 403, "unauthorized_client")
    assert await oauth.echo_status(tokens["access_token"]) == 200


@pytest.mark.gen_test
async def test_revocation_needs_client_authentication(
    oauth: OAuthCaller, ac_client: tuple[Client, str], standard_user: User
) -> None:
    tokens = await oauth.issue_tokens(*ac_client, standard_user)
    response = await oauth.post("/o/revoke/", {"token": tokens["access_token"]})

    assert_oauth_error(response, 401, "invalid_client", challenge=True)
    assert await oauth.echo_status(tokens["access_token"]) == 200


@pytest.mark.gen_test
async def test_wrong_secret_is_invalid_client(
    oauth: OAuthCaller, ac_client: tuple[Client, str], standard_user: User
) -> None:
    tokens = await oauth.issue_tokens(*ac_client, standard_user)
    client, _ = ac_client

    response = await oauth.post(
        "/o/revoke/",
        {"token": tokens["access_token"]},
        basic(client.client_id, "wrong"),
    )

    assert_oauth_error(response, 401, "invalid_client", challenge=True)
    assert await oauth.echo_status(tokens["access_token"]) == 200
    failures = AuditEvent.select().where(AuditEvent.action == "auth.failure")
    assert failures.count() == 1


@pytest.mark.gen_test
async def test_public_client_revokes_its_own_token(
    oauth: OAuthCaller, public_client: Client, standard_user: User
) -> None:
    issued = await oauth.issue_public_tokens(public_client, standard_user)

    response = await oauth.post(
        "/o/revoke/",
        {"token": issued["refresh_token"], "client_id": public_client.client_id},
    )

    assert_revoked_ok(response)
    assert await oauth.echo_status(issued["access_token"]) == 401


@pytest.mark.gen_test
async def test_missing_token_is_invalid_request(
    oauth: OAuthCaller, ac_client: tuple[Client, str]
) -> None:
    client, secret = ac_client

    response = await oauth.post("/o/revoke/", {}, basic(client.client_id, secret))

    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.gen_test
async def test_query_parameters_are_rejected(
    oauth: OAuthCaller, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, secret = ac_client
    tokens = await oauth.issue_tokens(client, secret, standard_user)

    response = await oauth.post(
        "/o/revoke/?token=" + tokens["access_token"],
        {},
        basic(client.client_id, secret),
    )

    assert_oauth_error(response, 400, "invalid_request")
    assert await oauth.echo_status(tokens["access_token"]) == 200


@pytest.mark.gen_test
async def test_revocation_rejects_get(http_client: Any, base_url: str) -> None:
    response = await http_client.fetch(base_url + "/o/revoke/", raise_error=False)

    assert response.code == 405
    assert response.headers["Cache-Control"] == "no-store"
