"""The refresh_token grant: rotation, reuse detection, expiry and scope."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from auth.clients import delete_client
from handlers.gateway import Gateway
from models.clients import Client
from models.refresh_tokens import RefreshToken
from models.users import User, set_active
from tests.oauth_support import (
    ECHO_SCOPE,
    REDIRECT_URI,
    OAuthCaller,
    assert_oauth_error,
    basic,
    json_body,
)

TWO_SCOPES = "integration:echo integration:other"


@pytest.fixture
def two_scope_user(make_user: Any) -> User:
    return make_user("bob", permissions={"echo": ("execute",), "other": ("execute",)})


@pytest.mark.gen_test
async def test_refresh_rotates_the_token(
    oauth: OAuthCaller, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, secret = ac_client
    first = await oauth.issue_tokens(client, secret, standard_user)

    response = await oauth.refresh(client, secret, first["refresh_token"])

    assert response.code == 200, response.body
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    second = json_body(response)
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == ECHO_SCOPE
    assert second["token_type"] == "Bearer"
    assert await oauth.echo_status(second["access_token"]) == 200
    # The old access token stays valid until it expires or is revoked.
    assert await oauth.echo_status(first["access_token"]) == 200


@pytest.mark.gen_test
async def test_reused_refresh_token_revokes_family(
    oauth: OAuthCaller, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, secret = ac_client
    first = await oauth.issue_tokens(client, secret, standard_user)
    second = json_body(await oauth.refresh(client, secret, first["refresh_token"]))

    reuse = await oauth.refresh(client, secret, first["refresh_token"])

    assert_oauth_error(reuse, 400, "invalid_grant")
    # The legitimate successor and every access token of the family are gone.
    successor = await oauth.refresh(client, secret, second["refresh_token"])
    assert_oauth_error(successor, 400, "invalid_grant")
    assert await oauth.echo_status(first["access_token"]) == 401
    assert await oauth.echo_status(second["access_token"]) == 401


@pytest.mark.gen_test
async def test_reuse_leaves_other_grants_alone(
    oauth: OAuthCaller, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, secret = ac_client
    stolen = await oauth.issue_tokens(client, secret, standard_user)
    other = await oauth.issue_tokens(client, secret, standard_user)
    await oauth.refresh(client, secret, stolen["refresh_token"])

    await oauth.refresh(client, secret, stolen["refresh_token"])

    assert await oauth.echo_status(other["access_token"]) == 200
    response = await oauth.refresh(client, secret, other["refresh_token"])
    assert response.code == 200


@pytest.mark.gen_test
async def test_refresh_may_narrow_scope(
    oauth: OAuthCaller, ac_client: tuple[Client, str], two_scope_user: User
) -> None:
    client, secret = ac_client
    first = await oauth.issue_tokens(client, secret, two_scope_user, TWO_SCOPES)

    narrowed = await oauth.refresh(
        client, secret, first["refresh_token"], scope="integration:other"
    )

    assert narrowed.code == 200, narrowed.body
    body = json_body(narrowed)
    assert body["scope"] == "integration:other"
    assert await oauth.echo_status(body["access_token"]) == 403
    # The next refresh token keeps the approved scope (RFC 6749 §6).
    full = await oauth.refresh(client, secret, body["refresh_token"])
    assert json_body(full)["scope"] == TWO_SCOPES


@pytest.mark.parametrize(
    "scope", ["integration:other", "integration:echo integration:other", "admin"]
)
@pytest.mark.gen_test
async def test_refresh_cannot_widen_scope(
    oauth: OAuthCaller,
    ac_client: tuple[Client, str],
    two_scope_user: User,
    scope: str,
) -> None:
    client, secret = ac_client
    first = await oauth.issue_tokens(client, secret, two_scope_user)

    response = await oauth.refresh(client, secret, first["refresh_token"], scope=scope)

    assert_oauth_error(response, 400, "invalid_scope")
    # A refused refresh does not use up the token.
    ok = await oauth.refresh(client, secret, first["refresh_token"])
    assert ok.code == 200


@pytest.mark.gen_test
async def test_refresh_token_bound_to_client(
    oauth: OAuthCaller,
    ac_client: tuple[Client, str],
    make_client: Any,
    standard_user: User,
) -> None:
    client, secret = ac_client
    other, other_secret = make_client(
        grant_types=["authorization_code"], redirect_uris=[REDIRECT_URI]
    )
    first = await oauth.issue_tokens(client, secret, standard_user)

    response = await oauth.refresh(other, other_secret, first["refresh_token"])

    assert_oauth_error(response, 400, "invalid_grant")
    ok = await oauth.refresh(client, secret, first["refresh_token"])
    assert ok.code == 200


@pytest.mark.parametrize("state", ["idle_expired", "user_deactivated"])
@pytest.mark.gen_test
async def test_dead_refresh_token_fails(
    oauth: OAuthCaller,
    ac_client: tuple[Client, str],
    standard_user: User,
    state: str,
) -> None:
    client, secret = ac_client
    first = await oauth.issue_tokens(client, secret, standard_user)
    if state == "idle_expired":
        RefreshToken.update(
            expires_at=datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
            - datetime.timedelta(seconds=1)
        ).execute()
    else:
        set_active(standard_user, False)

    response = await oauth.refresh(client, secret, first["refresh_token"])

    assert_oauth_error(response, 400, "invalid_grant")


@pytest.mark.gen_test
async def test_rotation_never_passes_family_expiry(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    first = await oauth.issue_tokens(client, secret, standard_user)
    family_end = datetime.datetime.now(datetime.UTC).replace(
        tzinfo=None
    ) + datetime.timedelta(seconds=30)
    RefreshToken.update(family_expires_at=family_end).execute()

    response = await oauth.refresh(client, secret, first["refresh_token"])

    assert response.code == 200
    latest = RefreshToken.select().order_by(RefreshToken.id.desc()).get()
    assert latest.family_expires_at == family_end
    assert latest.expires_at == family_end
    idle = datetime.timedelta(
        seconds=gateway.settings.refresh_token_idle_lifetime_seconds
    )
    assert latest.expires_at < latest.issued_at + idle


@pytest.mark.gen_test
async def test_refresh_after_client_deletion_fails(
    oauth: OAuthCaller, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, secret = ac_client
    first = await oauth.issue_tokens(client, secret, standard_user)
    delete_client(client)

    response = await oauth.refresh(client, secret, first["refresh_token"])

    assert_oauth_error(response, 401, "invalid_client", challenge=True)
    assert RefreshToken.select().where(RefreshToken.revoked_at.is_null()).count() == 0
    assert await oauth.echo_status(first["access_token"]) == 401


@pytest.mark.gen_test
async def test_missing_refresh_token_is_invalid_request(
    oauth: OAuthCaller, ac_client: tuple[Client, str]
) -> None:
    client, secret = ac_client

    response = await oauth.post(
        "/o/token/", {"grant_type": "refresh_token"}, basic(client.client_id, secret)
    )

    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.gen_test
async def test_client_credentials_get_no_refresh_token(
    oauth: OAuthCaller, cc_client: tuple[Client, str]
) -> None:
    client, secret = cc_client

    response = await oauth.request_client_credentials(client.client_id, secret)
    refused = await oauth.refresh(client, secret, "anything")

    assert response.code == 200
    assert "refresh_token" not in json_body(response)
    assert_oauth_error(refused, 400, "unauthorized_client")


@pytest.mark.gen_test
async def test_public_client_refreshes_with_rotation(
    oauth: OAuthCaller, public_client: Client, standard_user: User
) -> None:
    first = await oauth.issue_public_tokens(public_client, standard_user)
    form = {
        "grant_type": "refresh_token",
        "client_id": public_client.client_id,
        "refresh_token": first["refresh_token"],
    }

    rotated = await oauth.post("/o/token/", form)
    reused = await oauth.post("/o/token/", form)

    assert rotated.code == 200, rotated.body
    assert_oauth_error(reused, 400, "invalid_grant")
