"""Introspection (RFC 7662) for resource servers, and metadata (RFC 8414)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from auth.revocation import revoke_grant
from handlers.gateway import Gateway
from models.clients import AUTHORIZATION_CODE, Client
from models.tokens import AccessToken
from models.users import User, revoke_permission, set_active
from tests.conftest import ISSUER
from tests.oauth_support import (
    ECHO_SCOPE,
    LOOPBACK_REDIRECT_URI,
    REDIRECT_URI,
    OAuthCaller,
    assert_oauth_error,
    basic,
    json_body,
    post_form,
)


@pytest.fixture
def resource_server(
    make_client: Callable[..., tuple[Client, str | None]],
) -> tuple[Client, str]:
    client, secret = make_client(
        name="Partner API", grant_types=[AUTHORIZATION_CODE],
        redirect_uris=[REDIRECT_URI], is_resource_server=True,
    )  # fmt: skip
    assert secret is not None
    return client, secret


async def introspect(oauth: OAuthCaller, token: str, authorization: str | None) -> Any:
    return await oauth.post("/o/introspect/", {"token": token}, authorization)


async def introspect_as(
    oauth: OAuthCaller, resource_server: tuple[Client, str], token: str
) -> Any:
    """Introspect ``token`` with the Basic credentials of ``resource_server``."""
    client, secret = resource_server
    return await introspect(oauth, token, basic(client.client_id, secret))


def assert_inactive(response: Any) -> None:
    assert response.code == 200, response.body
    assert json_body(response) == {"active": False}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.gen_test
async def test_live_token_is_described(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    resource_server: tuple[Client, str],
    standard_user: User,
) -> None:
    client, _ = ac_client
    tokens = await oauth.issue_tokens(*ac_client, standard_user)
    before = int(time.time())

    response = await introspect_as(oauth, resource_server, tokens["access_token"])

    assert response.code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = json_body(response)
    assert body["active"] is True
    assert body["scope"] == ECHO_SCOPE
    assert body["client_id"] == client.client_id
    assert body["username"] == "alice"
    assert body["sub"] == "alice"
    assert body["iss"] == ISSUER
    assert body["token_type"] == "Bearer"
    assert before - 5 <= body["iat"] <= before + 5
    lifetime = gateway.settings.access_token_lifetime_seconds
    assert body["exp"] == body["iat"] + lifetime


@pytest.mark.gen_test
async def test_introspection_by_post_credentials(
    oauth: OAuthCaller,
    ac_client: tuple[Client, str],
    resource_server: tuple[Client, str],
    standard_user: User,
) -> None:
    tokens = await oauth.issue_tokens(*ac_client, standard_user)
    client, secret = resource_server

    response = await oauth.post(
        "/o/introspect/",
        {
            "token": tokens["access_token"],
            "client_id": client.client_id,
            "client_secret": secret,
        },
    )

    assert json_body(response)["active"] is True


@pytest.mark.gen_test
async def test_client_credentials_token_is_described(
    oauth: OAuthCaller,
    cc_client: tuple[Client, str],
    resource_server: tuple[Client, str],
) -> None:
    client, secret = cc_client
    token = await oauth.client_credentials_token(client, secret)

    response = await introspect_as(oauth, resource_server, token)

    body = json_body(response)
    assert body["active"] is True
    assert body["username"] == "partner-sa"
    assert body["client_id"] == client.client_id


@pytest.mark.gen_test
async def test_client_that_is_not_resource_server_is_refused(
    oauth: OAuthCaller, ac_client: tuple[Client, str], standard_user: User
) -> None:
    tokens = await oauth.issue_tokens(*ac_client, standard_user)

    response = await introspect_as(oauth, ac_client, tokens["access_token"])

    assert_oauth_error(response, 403, "unauthorized_client")
    assert "active" not in json_body(response)


@pytest.mark.gen_test
async def test_public_client_cannot_introspect(
    oauth: OAuthCaller, make_client: Callable[..., tuple[Client, str | None]]
) -> None:
    client, _ = make_client(
        client_type="public",
        grant_types=[AUTHORIZATION_CODE],
        redirect_uris=[LOOPBACK_REDIRECT_URI],
        is_resource_server=True,
    )

    with_basic = await introspect(oauth, "anything", basic(client.client_id, ""))
    in_body = await oauth.post(
        "/o/introspect/", {"token": "anything", "client_id": client.client_id}
    )

    assert_oauth_error(with_basic, 401, "invalid_client", challenge=True)
    assert_oauth_error(in_body, 400, "invalid_client")


@pytest.mark.gen_test
async def test_introspection_needs_client_authentication(
    oauth: OAuthCaller, resource_server: tuple[Client, str]
) -> None:
    client, _ = resource_server

    missing = await introspect(oauth, "anything", None)
    wrong = await introspect(oauth, "anything", basic(client.client_id, "wrong"))

    assert_oauth_error(missing, 401, "invalid_client", challenge=True)
    assert_oauth_error(wrong, 401, "invalid_client", challenge=True)


@pytest.mark.parametrize("state", ["revoked", "expired", "user_inactive"])
@pytest.mark.gen_test
async def test_dead_token_is_inactive(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    resource_server: tuple[Client, str],
    standard_user: User,
    state: str,
) -> None:
    tokens = await oauth.issue_tokens(*ac_client, standard_user)
    if state == "revoked":
        grant_id = AccessToken.get().grant_id
        assert grant_id is not None
        revoke_grant(grant_id)
    elif state == "expired":
        # A token that expired by its claims fails the signature check's exp.
        gateway.tokens.lifetime_seconds = -120
        tokens = await oauth.issue_tokens(*ac_client, standard_user)
    else:
        set_active(standard_user, False)

    response = await introspect_as(oauth, resource_server, tokens["access_token"])

    assert_inactive(response)


@pytest.mark.parametrize("token", ["unknown", "a.b.c", "x" * 9000])
@pytest.mark.gen_test
async def test_unknown_token_is_inactive(
    oauth: OAuthCaller, resource_server: tuple[Client, str], token: str
) -> None:
    response = await introspect_as(oauth, resource_server, token)

    assert_inactive(response)


@pytest.mark.gen_test
async def test_refresh_token_is_not_described(
    oauth: OAuthCaller,
    ac_client: tuple[Client, str],
    resource_server: tuple[Client, str],
    standard_user: User,
) -> None:
    tokens = await oauth.issue_tokens(*ac_client, standard_user)

    response = await introspect_as(oauth, resource_server, tokens["refresh_token"])

    assert_inactive(response)


@pytest.mark.gen_test
async def test_removed_permission_narrows_scope(
    oauth: OAuthCaller,
    ac_client: tuple[Client, str],
    resource_server: tuple[Client, str],
    standard_user: User,
) -> None:
    tokens = await oauth.issue_tokens(*ac_client, standard_user)
    revoke_permission(standard_user, "echo", "execute")

    response = await introspect_as(oauth, resource_server, tokens["access_token"])

    body = json_body(response)
    assert body["active"] is True
    assert body["scope"] == ""


@pytest.mark.gen_test
async def test_missing_token_is_invalid_request(
    oauth: OAuthCaller, resource_server: tuple[Client, str]
) -> None:
    client, secret = resource_server

    response = await oauth.post("/o/introspect/", {}, basic(client.client_id, secret))

    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.gen_test
async def test_introspection_is_post_only(http_client: Any, base_url: str) -> None:
    response = await http_client.fetch(
        base_url + "/o/introspect/?token=abc", raise_error=False
    )

    assert response.code == 405
    assert response.headers["Cache-Control"] == "no-store"


# Metadata


@pytest.mark.gen_test
async def test_metadata_lists_what_is_accepted(http_client: Any, base_url: str) -> None:
    response = await http_client.fetch(
        base_url + "/.well-known/oauth-authorization-server"
    )

    assert response.code == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert json_body(response) == {
        "issuer": ISSUER,
        "authorization_endpoint": ISSUER + "/o/authorize/",
        "token_endpoint": ISSUER + "/o/token/",
        "revocation_endpoint": ISSUER + "/o/revoke/",
        "introspection_endpoint": ISSUER + "/o/introspect/",
        "jwks_uri": ISSUER + "/o/jwks/",
        "grant_types_supported": [
            "authorization_code",
            "client_credentials",
            "refresh_token",
        ],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "scopes_supported": ["integration:echo"],
        "authorization_response_iss_parameter_supported": True,
    }


@pytest.mark.gen_test
async def test_metadata_endpoints_answer(http_client: Any, base_url: str) -> None:
    metadata = json_body(
        await http_client.fetch(base_url + "/.well-known/oauth-authorization-server")
    )

    for name in (
        "token_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
    ):
        path = metadata[name].removeprefix(ISSUER)
        response = await post_form(http_client, base_url + path, {})
        assert response.code in (400, 401), name
    jwks = await http_client.fetch(base_url + metadata["jwks_uri"].removeprefix(ISSUER))
    assert json_body(jwks)["keys"]
    authorize = await http_client.fetch(
        base_url + metadata["authorization_endpoint"].removeprefix(ISSUER),
        raise_error=False,
        follow_redirects=False,
        headers={"Accept": "text/html"},
    )
    assert authorize.code == 400
