"""Ending tokens at once (client, user, permission) and deleting expired rows."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from auth.clients import delete_client
from auth.revocation import revoke_user_tokens
from handlers.application import run_housekeeping
from handlers.gateway import Gateway
from models.base import utcnow
from models.clients import Client
from models.codes import AuthorizationCode
from models.consents import Consent
from models.refresh_tokens import RefreshToken
from models.tokens import AccessToken
from models.users import User
from tests.conftest import PASSWORD
from tests.oauth_support import (
    REDIRECT_URI,
    VERIFIER,
    OAuthCaller,
    issue_code,
    json_body,
)


def live_refresh_tokens() -> int:
    return int(RefreshToken.select().where(RefreshToken.revoked_at.is_null()).count())


def live_access_tokens() -> int:
    return int(AccessToken.select().where(AccessToken.revoked_at.is_null()).count())


@pytest.mark.gen_test
async def test_delete_client_ends_everything(
    oauth: OAuthCaller,
    gateway: Gateway,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    await oauth.issue_tokens(client, secret, standard_user)
    pending_code = issue_code(gateway, client, standard_user)
    Consent.create(user=standard_user, client=client, scope="integration:echo")

    revoked = delete_client(client)

    assert revoked == 2
    assert live_access_tokens() == 0
    assert live_refresh_tokens() == 0
    assert Consent.select().count() == 0
    assert (
        AuthorizationCode.select()
        .where(AuthorizationCode.redeemed_at.is_null())
        .count()
        == 0
    )
    assert pending_code


@pytest.mark.gen_test
async def test_revoke_user_tokens_spares_other_users(
    oauth: OAuthCaller,
    ac_client: tuple[Client, str],
    standard_user: User,
    make_user: Any,
) -> None:
    other = make_user("erin", permissions={"echo": ("execute",)})
    await oauth.issue_tokens(*ac_client, standard_user)
    other_tokens = await oauth.issue_tokens(*ac_client, other)

    counts = revoke_user_tokens(standard_user.id)

    assert counts.access_tokens == 1
    assert counts.refresh_tokens == 1
    assert live_access_tokens() == 1
    response = await oauth.refresh(*ac_client, other_tokens["refresh_token"])
    assert response.code == 200


def test_housekeeping_deletes_expired_rows_in_batches(
    gateway: Gateway, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, _ = ac_client
    old = utcnow() - datetime.timedelta(hours=1)
    for _ in range(3):
        issue_code(gateway, client, standard_user)
    AuthorizationCode.update(expires_at=old).execute()
    fresh_code = issue_code(gateway, client, standard_user)
    for number in range(3):
        RefreshToken.create(
            token_digest=f"{number:064d}",
            grant_id="g",
            client_id=client.client_id,
            user=standard_user,
            expires_at=old,
            family_expires_at=old,
        )
    AccessToken.create(
        jti="expired",
        client_id=client.client_id,
        user=standard_user,
        expires_at=old,
    )

    run_housekeeping(gateway)

    codes = list(AuthorizationCode.select())
    assert len(codes) == 1
    assert codes[0].expires_at > utcnow()
    assert RefreshToken.select().count() == 0
    assert AccessToken.select().count() == 0
    assert fresh_code


def test_housekeeping_keeps_recently_expired_codes(
    gateway: Gateway, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, _ = ac_client
    issue_code(gateway, client, standard_user)
    recent = utcnow() - datetime.timedelta(minutes=2)
    AuthorizationCode.update(expires_at=recent).execute()

    run_housekeeping(gateway)

    # Kept a while, so that a late replay still finds the code's grant.
    assert AuthorizationCode.select().count() == 1


def test_delete_expired_codes_takes_one_batch(
    gateway: Gateway, ac_client: tuple[Client, str], standard_user: User
) -> None:
    from models.codes import delete_expired_codes

    client, _ = ac_client
    for _ in range(5):
        issue_code(gateway, client, standard_user)
    AuthorizationCode.update(
        expires_at=utcnow() - datetime.timedelta(hours=1)
    ).execute()

    deleted = delete_expired_codes(utcnow(), limit=2)

    assert deleted == 2
    assert AuthorizationCode.select().count() == 3


def test_cli_deactivation_ends_refresh_tokens(
    gateway_process: Any,
) -> None:
    import requests

    process = gateway_process
    process.cli("create-user", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    process.cli("grant", "alice", "echo")
    app = process.cli_json(
        "create-app",
        "--name",
        "Portal",
        "--grant-type",
        "authorization-code",
        "--redirect-uri",
        REDIRECT_URI,
    )
    base_url = process.start()
    code = _issue_code_in(process, app["client_id"], "alice")
    tokens = requests.post(
        base_url + "/o/token/",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": VERIFIER,
        },
        auth=(app["client_id"], app["client_secret"]),
        timeout=10,
    )
    assert tokens.status_code == 200, tokens.text

    output = process.cli("deactivate-user", "alice")

    assert output.strip() == "alice deactivated (2 tokens revoked)"
    refreshed = requests.post(
        base_url + "/o/token/",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens.json()["refresh_token"],
        },
        auth=(app["client_id"], app["client_secret"]),
        timeout=10,
    )
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"


def _issue_code_in(process: Any, client_id: str, username: str) -> str:
    """Store a code in the server's database, as an approval would."""
    import models
    from auth.codes import CodeBinding, create_code
    from models.users import query_user
    from tests.oauth_support import CHALLENGE

    database = models.open_database(process.env["GATEWAY_DATABASE_URL"])
    try:
        user = query_user(username)
        assert user is not None
        binding = CodeBinding(
            client_id=client_id,
            user=user,
            redirect_uri=REDIRECT_URI,
            redirect_uri_sent=True,
            scope="integration:echo",
            code_challenge=CHALLENGE,
            code_challenge_method="S256",
        )
        with database.atomic():
            return create_code(binding, 60)
    finally:
        database.close()


@pytest.mark.gen_test
async def test_admin_deactivation_ends_refresh_tokens(
    oauth: OAuthCaller, ac_client: tuple[Client, str], standard_user: User
) -> None:
    from auth.accounts import activate_user, deactivate_user

    tokens = await oauth.issue_tokens(*ac_client, standard_user)

    revoked = deactivate_user(standard_user)
    activate_user(standard_user)

    assert revoked.access_tokens == 1
    assert revoked.refresh_tokens == 1
    response = await oauth.refresh(*ac_client, tokens["refresh_token"])
    assert response.code == 400
    assert json_body(response)["error"] == "invalid_grant"


@pytest.mark.gen_test
async def test_dropping_code_grant_revokes_user_grants(
    oauth: OAuthCaller,
    make_client: Any,
    service_account: User,
    standard_user: User,
) -> None:
    from auth.clients import update_client

    client, secret = make_client(
        grant_types=["authorization_code", "client_credentials"],
        redirect_uris=[REDIRECT_URI],
        service_account=service_account,
    )
    user_tokens = await oauth.issue_tokens(client, secret, standard_user)
    machine = await oauth.request_client_credentials(client.client_id, secret)

    revoked = update_client(
        client,
        name=client.name,
        grant_types=["client_credentials"],
        redirect_uris=[REDIRECT_URI],
        service_account=service_account,
        is_resource_server=False,
    )

    assert revoked == 2
    live = AccessToken.select().where(AccessToken.revoked_at.is_null())
    assert [row.jti for row in live] == [
        row.jti for row in AccessToken.select().where(AccessToken.grant_id.is_null())
    ]
    assert machine.code == 200
    assert user_tokens["refresh_token"]
