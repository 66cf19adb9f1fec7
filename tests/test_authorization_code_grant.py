"""The authorization_code grant at ``/o/token/`` (RFC 6749 §4.1.3, RFC 7636)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from handlers.gateway import Gateway
from models.audit import AuditEvent
from models.clients import Client
from models.codes import AuthorizationCode
from models.refresh_tokens import RefreshToken
from models.tokens import AccessToken
from models.users import User, set_active
from tests.oauth_support import (
    ECHO_SCOPE,
    LOOPBACK_REDIRECT_URI,
    REDIRECT_URI,
    VERIFIER,
    OAuthCaller,
    assert_oauth_error,
    basic,
    code_form,
    issue_code,
    json_body,
)


@pytest.mark.gen_test
async def test_confidential_client_gets_tokens(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    code = issue_code(gateway, client, standard_user)

    response = await oauth.redeem_code(code, basic(client.client_id, secret))

    assert response.code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = json_body(response)
    assert body["token_type"] == "Bearer"
    assert body["scope"] == ECHO_SCOPE
    assert body["expires_in"] == gateway.settings.access_token_lifetime_seconds
    assert len(body["refresh_token"]) >= 43
    echo = await oauth.call_echo(body["access_token"])
    assert echo.code == 200
    principal = json.loads(echo.body)["principal"]
    assert principal == {
        "username": "alice",
        "kind": "standard",
        "auth_method": "bearer",
        "client_id": client.client_id,
    }


@pytest.mark.gen_test
async def test_public_client_names_itself_with_pkce(
    oauth: OAuthCaller, gateway: Gateway, public_client: Client, standard_user: User
) -> None:
    redirect_uri = "http://127.0.0.1:50111/callback"
    code = issue_code(gateway, public_client, standard_user, redirect_uri=redirect_uri)

    response = await oauth.redeem_code(
        code, None, client_id=public_client.client_id, redirect_uri=redirect_uri
    )

    assert response.code == 200, response.body
    assert "refresh_token" in json_body(response)


@pytest.mark.gen_test
async def test_code_and_refresh_token_stored_as_digests(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    code = issue_code(gateway, client, standard_user)
    response = await oauth.redeem_code(code, basic(client.client_id, secret))
    refresh_token = json_body(response)["refresh_token"]

    stored_codes = [row.code_digest for row in AuthorizationCode.select()]
    stored_refresh = [row.token_digest for row in RefreshToken.select()]
    assert code not in stored_codes
    assert refresh_token not in stored_refresh
    assert all(len(value) == 64 for value in stored_codes + stored_refresh)


@pytest.mark.gen_test
async def test_code_of_another_client_is_invalid_grant(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    make_client: Any,
    standard_user: User,
) -> None:
    client, _ = ac_client
    other, other_secret = make_client(
        grant_types=["authorization_code"], redirect_uris=[REDIRECT_URI]
    )
    code = issue_code(gateway, client, standard_user)

    response = await oauth.redeem_code(code, basic(other.client_id, other_secret))

    assert_oauth_error(response, 400, "invalid_grant")


@pytest.mark.gen_test
async def test_wrong_secret_is_invalid_client(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, _ = ac_client
    code = issue_code(gateway, client, standard_user)

    response = await oauth.redeem_code(code, basic(client.client_id, "not-the-secret"))

    assert_oauth_error(response, 401, "invalid_client", challenge=True)


@pytest.mark.parametrize(
    ("redirect_uri", "status", "error"),
    [
        (REDIRECT_URI + "/", 400, "invalid_grant"),
        ("https://partner.example/other", 400, "invalid_grant"),
        ("-", 400, "invalid_request"),
    ],
)
@pytest.mark.gen_test
async def test_redirect_uri_must_repeat_the_request(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
    redirect_uri: str,
    status: int,
    error: str,
) -> None:
    client, secret = ac_client
    code = issue_code(gateway, client, standard_user)

    response = await oauth.redeem_code(
        code, basic(client.client_id, secret), redirect_uri=redirect_uri
    )

    assert_oauth_error(response, status, error)


@pytest.mark.gen_test
async def test_redirect_uri_optional_when_request_omitted_it(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    code = issue_code(gateway, client, standard_user, redirect_uri_sent=False)

    response = await oauth.redeem_code(
        code, basic(client.client_id, secret), redirect_uri="-"
    )

    assert response.code == 200, response.body


@pytest.mark.parametrize(
    ("verifier", "status", "error"),
    [
        ("-", 400, "invalid_request"),  # missing
        ("a" * 43, 400, "invalid_grant"),  # well-formed, wrong
        (VERIFIER[:42], 400, "invalid_request"),  # too short
        (VERIFIER + "+", 400, "invalid_request"),  # invalid character
        (VERIFIER + "\n", 400, "invalid_request"),  # trailing line break
        ("a" * 129, 400, "invalid_request"),  # too long
    ],
)
@pytest.mark.gen_test
async def test_pkce_verifier_errors(
    oauth: OAuthCaller,
    gateway: Gateway,
    public_client: Client,
    standard_user: User,
    verifier: str,
    status: int,
    error: str,
) -> None:
    code = issue_code(
        gateway, public_client, standard_user, redirect_uri=LOOPBACK_REDIRECT_URI
    )
    public = {
        "client_id": public_client.client_id,
        "redirect_uri": LOOPBACK_REDIRECT_URI,
    }

    response = await oauth.redeem_code(code, None, code_verifier=verifier, **public)

    assert_oauth_error(response, status, error)
    # A failed attempt leaves the code unused: the right verifier still works.
    retry = await oauth.redeem_code(code, None, **public)
    assert retry.code == 200, retry.body


@pytest.mark.gen_test
async def test_verifier_without_challenge_is_downgrade(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    code = issue_code(gateway, client, standard_user, challenge=None)

    response = await oauth.redeem_code(code, basic(client.client_id, secret))

    assert_oauth_error(response, 400, "invalid_request")
    assert "code_challenge" in json_body(response)["error_description"]


@pytest.mark.gen_test
async def test_confidential_client_without_pkce_succeeds(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    code = issue_code(gateway, client, standard_user, challenge=None)

    response = await oauth.redeem_code(
        code, basic(client.client_id, secret), code_verifier="-"
    )

    assert response.code == 200, response.body


@pytest.mark.gen_test
async def test_code_replay_revokes_issued_tokens(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    code = issue_code(gateway, client, standard_user)
    auth = basic(client.client_id, secret)
    tokens = await oauth.exchange_code(code, auth)
    assert (await oauth.call_echo(tokens["access_token"])).code == 200

    replay = await oauth.redeem_code(code, auth)

    assert_oauth_error(replay, 400, "invalid_grant")
    echo = await oauth.call_echo(tokens["access_token"])
    assert echo.code == 401
    assert 'error="invalid_token"' in echo.headers.get_list("WWW-Authenticate")[1]
    refresh = await oauth.refresh(client, secret, tokens["refresh_token"])
    assert_oauth_error(refresh, 400, "invalid_grant")
    assert AccessToken.select().where(AccessToken.revoked_at.is_null()).count() == 0
    events = AuditEvent.select().where(AuditEvent.action == "grant.revoke")
    assert events.count() == 1


@pytest.mark.parametrize("state", ["expired", "user_deactivated"])
@pytest.mark.gen_test
async def test_dead_code_is_invalid_grant(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
    state: str,
) -> None:
    client, secret = ac_client
    code = issue_code(gateway, client, standard_user)
    if state == "expired":
        past = datetime.datetime(2000, 1, 1)
        AuthorizationCode.update(expires_at=past).execute()
    else:
        set_active(standard_user, False)

    response = await oauth.redeem_code(code, basic(client.client_id, secret))

    assert_oauth_error(response, 400, "invalid_grant")


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("unknown-code", "invalid_grant"),
        ("x" * 300, "invalid_grant"),
        ("-", "invalid_request"),
    ],
    ids=["unknown", "long", "missing"],
)
@pytest.mark.gen_test
async def test_unknown_or_missing_code(
    oauth: OAuthCaller, ac_client: tuple[Client, str], code: str, error: str
) -> None:
    client, secret = ac_client

    response = await oauth.redeem_code(code, basic(client.client_id, secret))

    assert_oauth_error(response, 400, error)


@pytest.mark.gen_test
async def test_client_credentials_client_cannot_redeem_codes(
    oauth: OAuthCaller,
    gateway: Gateway,
    cc_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = cc_client
    code = issue_code(gateway, client, standard_user)

    response = await oauth.redeem_code(code, basic(client.client_id, secret))

    assert_oauth_error(response, 400, "unauthorized_client")


@pytest.mark.parametrize(
    "body",
    [
        "grant_type=authorization_code&code=a&code=b",
        "grant_type=authorization_code&grant_type=authorization_code&code=a",
    ],
)
@pytest.mark.gen_test
async def test_repeated_parameter_is_invalid_request(
    oauth: OAuthCaller, ac_client: tuple[Client, str], body: str
) -> None:
    client, secret = ac_client

    response = await oauth.post("/o/token/", body, basic(client.client_id, secret))

    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.gen_test
async def test_query_string_credentials_are_rejected(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    code = issue_code(gateway, client, standard_user)
    path = f"/o/token/?client_id={client.client_id}&client_secret={secret}"

    response = await oauth.post(path, code_form(code))

    assert_oauth_error(response, 400, "invalid_request")
    # The code was not consumed by the refused request.
    ok = await oauth.redeem_code(code, basic(client.client_id, secret))
    assert ok.code == 200


@pytest.mark.gen_test
async def test_token_endpoint_rejects_get(http_client: Any, base_url: str) -> None:
    response = await http_client.fetch(
        base_url + "/o/token/?grant_type=authorization_code&code=x",
        raise_error=False,
    )

    assert response.code == 405
    assert json_body(response)["error"] == "method_not_allowed"
    assert response.headers["Cache-Control"] == "no-store"
