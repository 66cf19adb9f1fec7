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
from tests.conftest import basic_header
from tests.oauth_support import (
    ECHO_SCOPE,
    REDIRECT_URI,
    VERIFIER,
    assert_oauth_error,
    issue_code,
    json_body,
    post_form,
)

TWO_SCOPES = "integration:echo integration:other"


@pytest.fixture
def two_scope_user(make_user: Any) -> User:
    return make_user("bob", permissions={"echo": ("execute",), "other": ("execute",)})


async def redeem(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    client: Client,
    secret: str,
    user: User,
    scope: str = ECHO_SCOPE,
) -> dict[str, Any]:
    code = issue_code(gateway, client, user, scope=scope)
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


async def refresh(
    http_client: Any,
    base_url: str,
    client: Client,
    secret: str,
    refresh_token: str,
    **extra: str,
) -> Any:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return await post_form(
        http_client,
        base_url + "/o/token/",
        form,
        basic_header(client.client_id, secret),
    )


async def echo_status(http_client: Any, base_url: str, token: str) -> int:
    response = await http_client.fetch(
        base_url + "/integrations/execute/echo",
        method="POST",
        body="{}",
        headers={"Authorization": f"Bearer {token}"},
        raise_error=False,
    )
    return int(response.code)


@pytest.mark.gen_test
async def test_refresh_rotates_the_token(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    first = await redeem(http_client, base_url, gateway, client, secret, standard_user)

    response = await refresh(
        http_client, base_url, client, secret, first["refresh_token"]
    )

    assert response.code == 200, response.body
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    second = json_body(response)
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == ECHO_SCOPE
    assert second["token_type"] == "Bearer"
    assert await echo_status(http_client, base_url, second["access_token"]) == 200
    # The old access token stays valid until it expires or is revoked.
    assert await echo_status(http_client, base_url, first["access_token"]) == 200


@pytest.mark.gen_test
async def test_reused_refresh_token_revokes_family(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    first = await redeem(http_client, base_url, gateway, client, secret, standard_user)
    second = json_body(
        await refresh(http_client, base_url, client, secret, first["refresh_token"])
    )

    reuse = await refresh(http_client, base_url, client, secret, first["refresh_token"])

    assert_oauth_error(reuse, 400, "invalid_grant")
    # The legitimate successor and every access token of the family are gone.
    successor = await refresh(
        http_client, base_url, client, secret, second["refresh_token"]
    )
    assert_oauth_error(successor, 400, "invalid_grant")
    assert await echo_status(http_client, base_url, first["access_token"]) == 401
    assert await echo_status(http_client, base_url, second["access_token"]) == 401


@pytest.mark.gen_test
async def test_reuse_leaves_other_grants_alone(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    stolen = await redeem(http_client, base_url, gateway, client, secret, standard_user)
    other = await redeem(http_client, base_url, gateway, client, secret, standard_user)
    await refresh(http_client, base_url, client, secret, stolen["refresh_token"])

    await refresh(http_client, base_url, client, secret, stolen["refresh_token"])

    assert await echo_status(http_client, base_url, other["access_token"]) == 200
    response = await refresh(
        http_client, base_url, client, secret, other["refresh_token"]
    )
    assert response.code == 200


@pytest.mark.gen_test
async def test_refresh_may_narrow_scope(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    two_scope_user: User,
) -> None:
    client, secret = ac_client
    first = await redeem(
        http_client, base_url, gateway, client, secret, two_scope_user, TWO_SCOPES
    )

    narrowed = await refresh(
        http_client,
        base_url,
        client,
        secret,
        first["refresh_token"],
        scope="integration:other",
    )

    assert narrowed.code == 200, narrowed.body
    body = json_body(narrowed)
    assert body["scope"] == "integration:other"
    assert await echo_status(http_client, base_url, body["access_token"]) == 403
    # The next refresh token keeps the approved scope (RFC 6749 §6).
    full = await refresh(http_client, base_url, client, secret, body["refresh_token"])
    assert json_body(full)["scope"] == TWO_SCOPES


@pytest.mark.parametrize(
    "scope", ["integration:other", "integration:echo integration:other", "admin"]
)
@pytest.mark.gen_test
async def test_refresh_cannot_widen_scope(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    two_scope_user: User,
    scope: str,
) -> None:
    client, secret = ac_client
    first = await redeem(http_client, base_url, gateway, client, secret, two_scope_user)

    response = await refresh(
        http_client, base_url, client, secret, first["refresh_token"], scope=scope
    )

    assert_oauth_error(response, 400, "invalid_scope")
    # A refused refresh does not use up the token.
    ok = await refresh(http_client, base_url, client, secret, first["refresh_token"])
    assert ok.code == 200


@pytest.mark.gen_test
async def test_refresh_token_bound_to_client(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    make_client: Any,
    standard_user: User,
) -> None:
    client, secret = ac_client
    other, other_secret = make_client(
        grant_types=["authorization_code"], redirect_uris=[REDIRECT_URI]
    )
    first = await redeem(http_client, base_url, gateway, client, secret, standard_user)

    response = await refresh(
        http_client, base_url, other, other_secret, first["refresh_token"]
    )

    assert_oauth_error(response, 400, "invalid_grant")
    ok = await refresh(http_client, base_url, client, secret, first["refresh_token"])
    assert ok.code == 200


@pytest.mark.gen_test
async def test_idle_refresh_token_expires(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    first = await redeem(http_client, base_url, gateway, client, secret, standard_user)
    RefreshToken.update(
        expires_at=datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        - datetime.timedelta(seconds=1)
    ).execute()

    response = await refresh(
        http_client, base_url, client, secret, first["refresh_token"]
    )

    assert_oauth_error(response, 400, "invalid_grant")


@pytest.mark.gen_test
async def test_rotation_never_passes_family_expiry(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    first = await redeem(http_client, base_url, gateway, client, secret, standard_user)
    family_end = datetime.datetime.now(datetime.UTC).replace(
        tzinfo=None
    ) + datetime.timedelta(seconds=30)
    RefreshToken.update(family_expires_at=family_end).execute()

    response = await refresh(
        http_client, base_url, client, secret, first["refresh_token"]
    )

    assert response.code == 200
    latest = RefreshToken.select().order_by(RefreshToken.id.desc()).get()
    assert latest.family_expires_at == family_end
    assert latest.expires_at == family_end
    idle = datetime.timedelta(
        seconds=gateway.settings.refresh_token_idle_lifetime_seconds
    )
    assert latest.expires_at < latest.issued_at + idle


@pytest.mark.gen_test
async def test_refresh_for_deactivated_user_fails(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    first = await redeem(http_client, base_url, gateway, client, secret, standard_user)
    set_active(standard_user, False)

    response = await refresh(
        http_client, base_url, client, secret, first["refresh_token"]
    )

    assert_oauth_error(response, 400, "invalid_grant")


@pytest.mark.gen_test
async def test_refresh_after_client_deletion_fails(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    first = await redeem(http_client, base_url, gateway, client, secret, standard_user)
    delete_client(client)

    response = await refresh(
        http_client, base_url, client, secret, first["refresh_token"]
    )

    assert_oauth_error(response, 401, "invalid_client", challenge=True)
    assert RefreshToken.select().where(RefreshToken.revoked_at.is_null()).count() == 0
    assert await echo_status(http_client, base_url, first["access_token"]) == 401


@pytest.mark.gen_test
async def test_missing_refresh_token_is_invalid_request(
    http_client: Any, base_url: str, ac_client: tuple[Client, str]
) -> None:
    client, secret = ac_client

    response = await post_form(
        http_client,
        base_url + "/o/token/",
        {"grant_type": "refresh_token"},
        basic_header(client.client_id, secret),
    )

    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.gen_test
async def test_client_credentials_get_no_refresh_token(
    http_client: Any, base_url: str, cc_client: tuple[Client, str]
) -> None:
    client, secret = cc_client

    response = await post_form(
        http_client,
        base_url + "/o/token/",
        {"grant_type": "client_credentials"},
        basic_header(client.client_id, secret),
    )
    refused = await post_form(
        http_client,
        base_url + "/o/token/",
        {"grant_type": "refresh_token", "refresh_token": "anything"},
        basic_header(client.client_id, secret),
    )

    assert response.code == 200
    assert "refresh_token" not in json_body(response)
    assert_oauth_error(refused, 400, "unauthorized_client")


@pytest.mark.gen_test
async def test_public_client_refreshes_with_rotation(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    public_client: Client,
    standard_user: User,
) -> None:
    redirect_uri = "http://127.0.0.1/callback"
    code = issue_code(gateway, public_client, standard_user, redirect_uri=redirect_uri)
    first = json_body(
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
    form = {
        "grant_type": "refresh_token",
        "client_id": public_client.client_id,
        "refresh_token": first["refresh_token"],
    }

    rotated = await post_form(http_client, base_url + "/o/token/", form)
    reused = await post_form(http_client, base_url + "/o/token/", form)

    assert rotated.code == 200, rotated.body
    assert_oauth_error(reused, 400, "invalid_grant")
