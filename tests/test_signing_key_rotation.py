"""Signing-key rotation: a new key signs, older keys verify until tokens expire."""

from __future__ import annotations

import datetime
import json
from typing import Any

import jwt
import pytest
import requests

from auth.clients import create_client
from auth.keys import RETIRED_KEY_MARGIN_SECONDS, KeyRing, create_signing_key
from auth.tokens import AccessTokenService
from handlers.application import run_housekeeping
from handlers.gateway import Gateway
from models.base import utcnow
from models.clients import CLIENT_CREDENTIALS, Client
from models.state import SigningKey
from models.users import User
from tests.conftest import PASSWORD
from tests.e2e import CREATE_CC_APP
from tests.oauth_support import OAuthCaller


async def jwks_kids(oauth: OAuthCaller) -> list[str]:
    response = await oauth.http_client.fetch(oauth.base_url + "/o/jwks/")
    return [key["kid"] for key in json.loads(response.body)["keys"]]


def set_retired_ago(kid: str, seconds: int) -> None:
    retired_at = utcnow() - datetime.timedelta(seconds=seconds)
    SigningKey.update(retired_at=retired_at).where(SigningKey.kid == kid).execute()


@pytest.mark.gen_test
async def test_rotation_signs_with_new_key_and_keeps_old(
    oauth: OAuthCaller, gateway: Gateway, cc_client: tuple[Client, str]
) -> None:
    old_token = await oauth.client_credentials_token(*cc_client)
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    new_key = create_signing_key()
    run_housekeeping(gateway)

    new_token = await oauth.client_credentials_token(*cc_client)
    assert jwt.get_unverified_header(new_token)["kid"] == new_key.kid
    assert new_key.kid != old_kid
    kids = await jwks_kids(oauth)
    assert sorted(kids) == sorted([old_kid, new_key.kid])
    assert await oauth.echo_status(old_token) == 200
    assert await oauth.echo_status(new_token) == 200


@pytest.mark.gen_test
async def test_retired_key_dropped_after_its_tokens_expire(
    oauth: OAuthCaller, gateway: Gateway, cc_client: tuple[Client, str]
) -> None:
    old_token = await oauth.client_credentials_token(*cc_client)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    create_signing_key()
    keep_for = gateway.settings.access_token_lifetime_seconds
    keep_for += RETIRED_KEY_MARGIN_SECONDS

    set_retired_ago(old_kid, keep_for - 30)
    run_housekeeping(gateway)
    assert old_kid in await jwks_kids(oauth)

    set_retired_ago(old_kid, keep_for + 30)
    run_housekeeping(gateway)

    assert old_kid not in await jwks_kids(oauth)
    assert SigningKey.select().where(SigningKey.kid == old_kid).count() == 0


@pytest.mark.gen_test
async def test_key_rotated_by_another_process_verifies(
    oauth: OAuthCaller, gateway: Gateway, service_account: User
) -> None:
    # Another process rotates and signs before this one has reloaded.
    create_signing_key()
    other_keys = KeyRing(gateway.settings.access_token_lifetime_seconds)
    other_keys.load()
    other = AccessTokenService(
        other_keys, gateway.settings.issuer_url, gateway.tokens.lifetime_seconds
    )
    client, _ = create_client(
        gateway.client_secret_key,
        name="Other process app",
        grant_types=[CLIENT_CREDENTIALS],
        service_account=service_account,
    )
    token, _ = other.issue(service_account, client.client_id, "integration:echo")
    gateway.keys._loaded_at = -1e9

    assert await oauth.echo_status(token) == 200
    assert other_keys.signing_kid in gateway.keys.public_keys


@pytest.mark.gen_test
async def test_unknown_kid_reload_is_rate_limited(
    oauth: OAuthCaller, gateway: Gateway, service_account: User
) -> None:
    loads = []
    original = gateway.keys.load

    def counting_load() -> None:
        loads.append(1)
        original()

    gateway.keys.load = counting_load  # type: ignore[method-assign]
    gateway.keys._loaded_at = -1e9
    header = {"typ": "at+jwt", "kid": "unknown-kid"}
    forged = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers=header)

    for _ in range(5):
        assert await oauth.echo_status(forged) == 401

    assert len(loads) == 1


def test_rotate_signing_key_command(gateway_process: Any) -> None:
    """The CLI rotates; the restarted server signs with the new key."""
    process = gateway_process
    process.cli(
        "create-user",
        "partner-sa",
        "--service-account",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    process.cli("grant", "partner-sa", "echo")
    app = process.cli_json(*CREATE_CC_APP, "--name", "Partner")
    base_url = process.start()
    auth = (app["client_id"], app["client_secret"])

    def token() -> str:
        response = requests.post(
            base_url + "/o/token/",
            data={"grant_type": "client_credentials"},
            auth=auth,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def echo(access_token: str) -> int:
        return requests.post(
            base_url + "/integrations/execute/echo",
            json={},
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=10,
        ).status_code

    old_token = token()
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    output = process.cli("rotate-signing-key")
    process.stop()
    process.start()

    new_kid = output.split()[2]
    assert new_kid != old_kid
    new_token = token()
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    jwks = requests.get(base_url + "/o/jwks/", timeout=10).json()
    assert sorted(key["kid"] for key in jwks["keys"]) == sorted([old_kid, new_kid])
    assert echo(old_token) == 200
    assert echo(new_token) == 200
