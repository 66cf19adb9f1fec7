"""End to end: a real ``server.py`` process set up with the CLI, called by real
HTTP clients, on SQLite and on PostgreSQL.

The last check of each test reads the captured server log: it must never
contain a password, client secret, access token or Authorization value.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

from models.audit import AuditEvent
from models.runs import IntegrationRun
from models.state import GatewayState, SigningKey
from tests.e2e import CREATE_CC_APP, open_database, wait_past_change_poll

pytestmark = pytest.mark.e2e


@dataclass
class Partner:
    """The credentials that the CLI printed once, and every token issued."""

    base_url: str
    username: str
    password: str
    client_id: str
    client_secret: str
    tokens: list[str] = field(default_factory=list)
    #: Wrong credentials a test sent, which must stay out of the log too.
    wrong_values: list[str] = field(default_factory=list)

    @property
    def token_url(self) -> str:
        return self.base_url + "/o/token/"

    @property
    def echo_url(self) -> str:
        return self.base_url + "/integrations/execute/echo"

    def secrets(self) -> list[str]:
        """Every value that must never appear in the server log."""
        basic_values = [
            base64.b64encode(f"{user}:{secret}".encode()).decode()
            for user, secret in (
                (self.username, self.password),
                (self.client_id, self.client_secret),
            )
        ]
        return [
            self.password,
            self.client_secret,
            *self.tokens,
            *self.wrong_values,
            *basic_values,
        ]


@pytest.fixture
def partner(gateway_process: Any) -> Partner:
    """A running gateway with a service account and its client-credentials client."""
    return set_up_partner(gateway_process)


def set_up_partner(gateway_process: Any) -> Partner:
    """Create the account, grant echo, register the client, start the server."""
    account = gateway_process.cli_json("create-user", "partner-sa", "--service-account")
    gateway_process.cli("grant", "partner-sa", "echo")
    client = gateway_process.cli_json(*CREATE_CC_APP, "--name", "ERP connector")
    base_url = gateway_process.start()
    return Partner(
        base_url=base_url,
        username="partner-sa",
        password=account["password"],
        client_id=client["client_id"],
        client_secret=client["client_secret"],
    )


def guide_token_request(partner: Partner) -> requests.Response:
    """Request a token exactly as the partner guide shows it."""
    credentials = f"{partner.client_id}:{partner.client_secret}".encode()
    return requests.post(
        partner.token_url,
        headers={
            "Authorization": "Basic " + base64.b64encode(credentials).decode(),
            "Content-Type": "x-www-form-urlencoded",
        },
        data="grant_type=client_credentials",
        timeout=10,
    )


def bearer_from_guide(partner: Partner) -> dict[str, str]:
    """Request a token as the partner guide shows; return its Bearer header."""
    token = guide_token_request(partner).json()["access_token"]
    partner.tokens.append(token)
    return {"Authorization": "Bearer " + token}


def assert_log_clean(gateway_process: Any, partner: Partner) -> None:
    gateway_process.stop()
    log = gateway_process.log()
    assert "integration-gateway listening on" in log
    for secret in partner.secrets():
        assert secret not in log
    assert "Authorization" not in log
    assert "Traceback" not in log


def test_echo_with_basic_service_account(
    gateway_process: Any, partner: Partner, server_database_url: str
) -> None:
    response = requests.post(
        partner.echo_url,
        auth=(partner.username, partner.password),
        json={"order": 17},
        timeout=10,
    )

    assert response.status_code == 200
    assert response.json() == {
        "integration": "echo",
        "principal": {
            "username": "partner-sa",
            "kind": "service_account",
            "auth_method": "basic",
            "client_id": None,
        },
        "payload": {"order": 17},
    }
    run_id = response.headers["X-Run-Id"]
    # Read by this process while the server still runs: the run is committed.
    with open_database(server_database_url):
        run = IntegrationRun.get(IntegrationRun.run_id == run_id)
        assert run.status == "succeeded"
        event = AuditEvent.get(
            AuditEvent.request_id == response.headers["X-Request-Id"]
        )
        assert event.action == "integration.execute"
        assert event.remote_addr == "127.0.0.1"
    assert_log_clean(gateway_process, partner)


def test_echo_with_requests_oauthlib_token(
    gateway_process: Any, partner: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # oauthlib rejects plain http unless OAUTHLIB_INSECURE_TRANSPORT is set.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    session = OAuth2Session(
        client=BackendApplicationClient(client_id=partner.client_id)
    )

    token = session.fetch_token(
        token_url=partner.token_url,
        client_id=partner.client_id,
        client_secret=partner.client_secret,
        timeout=10,
    )
    partner.tokens.append(token["access_token"])
    response = session.post(partner.echo_url, json={"via": "oauthlib"}, timeout=10)

    assert token["token_type"] == "Bearer"
    assert token["scope"] == ["integration:echo"]
    assert "refresh_token" not in token
    assert response.status_code == 200
    assert response.json()["principal"] == {
        "username": "partner-sa",
        "kind": "service_account",
        "auth_method": "bearer",
        "client_id": partner.client_id,
    }
    assert response.json()["payload"] == {"via": "oauthlib"}
    assert_log_clean(gateway_process, partner)


def test_token_request_from_guide(gateway_process: Any, partner: Partner) -> None:
    token_response = guide_token_request(partner)

    assert token_response.status_code == 200, token_response.text
    assert token_response.headers["Cache-Control"] == "no-store"
    assert token_response.headers["Pragma"] == "no-cache"
    body = token_response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "integration:echo"
    partner.tokens.append(body["access_token"])

    response = requests.post(
        partner.echo_url,
        headers={"Authorization": "Bearer " + body["access_token"]},
        data=json.dumps({"via": "guide"}),
        timeout=10,
    )

    assert response.status_code == 200
    assert response.json()["principal"]["auth_method"] == "bearer"
    assert response.json()["payload"] == {"via": "guide"}
    assert_log_clean(gateway_process, partner)


def test_token_endpoint_without_slash(gateway_process: Any, partner: Partner) -> None:
    response = requests.post(
        partner.base_url + "/o/token",
        auth=(partner.client_id, partner.client_secret),
        data={"grant_type": "client_credentials"},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 200
    partner.tokens.append(response.json()["access_token"])
    assert_log_clean(gateway_process, partner)


def test_cli_deactivation_stops_running_server(
    gateway_process: Any, partner: Partner
) -> None:
    bearer = bearer_from_guide(partner)
    basic = (partner.username, partner.password)
    assert requests.post(partner.echo_url, auth=basic, timeout=10).status_code == 200
    assert requests.post(partner.echo_url, headers=bearer, timeout=10).status_code == (
        200
    )

    output = gateway_process.cli("deactivate-user", "partner-sa")

    assert output == "partner-sa deactivated (1 tokens revoked)\n"
    wait_past_change_poll()
    basic_response = requests.post(partner.echo_url, auth=basic, timeout=10)
    bearer_response = requests.post(partner.echo_url, headers=bearer, timeout=10)
    token_response = guide_token_request(partner)
    assert basic_response.status_code == 401
    assert basic_response.json()["error"] == "unauthorized"
    assert bearer_response.status_code == 401
    assert bearer_response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in bearer_response.headers["WWW-Authenticate"]
    assert token_response.status_code == 400
    assert token_response.json()["error"] == "unauthorized_client"

    gateway_process.cli("activate-user", "partner-sa")

    wait_past_change_poll()
    assert requests.post(partner.echo_url, auth=basic, timeout=10).status_code == 200
    # Tokens revoked at deactivation stay revoked.
    assert requests.post(partner.echo_url, headers=bearer, timeout=10).status_code == (
        401
    )
    assert_log_clean(gateway_process, partner)


def test_cli_client_deletion_stops_tokens(
    gateway_process: Any, partner: Partner
) -> None:
    bearer = bearer_from_guide(partner)
    assert requests.post(partner.echo_url, headers=bearer, timeout=10).status_code == (
        200
    )

    output = gateway_process.cli("delete-app", partner.client_id)

    assert output == f"deleted client {partner.client_id} (1 tokens revoked)\n"
    wait_past_change_poll()
    response = requests.post(partner.echo_url, headers=bearer, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    token_response = guide_token_request(partner)
    assert token_response.status_code == 401
    assert token_response.json()["error"] == "invalid_client"
    assert token_response.headers["WWW-Authenticate"] == (
        'Basic realm="integration-gateway", charset="UTF-8"'
    )
    assert_log_clean(gateway_process, partner)


def test_failures_keep_secrets_out_of_log(
    gateway_process: Any, partner: Partner
) -> None:
    wrong_basic = requests.post(
        partner.echo_url, auth=(partner.username, partner.password + "x"), timeout=10
    )
    wrong_client = requests.post(
        partner.token_url,
        auth=(partner.client_id, partner.client_secret + "x"),
        data={"grant_type": "client_credentials"},
        timeout=10,
    )
    forged = requests.post(
        partner.echo_url,
        headers={"Authorization": "Bearer " + "e" * 40 + "." + "f" * 40 + ".g"},
        timeout=10,
    )
    query = requests.post(
        partner.token_url + "?client_secret=" + partner.client_secret,
        data={"grant_type": "client_credentials"},
        timeout=10,
    )

    assert wrong_basic.status_code == 401
    assert wrong_client.status_code == 401
    assert forged.status_code == 401
    assert query.status_code == 400
    partner.wrong_values += [partner.password + "x", partner.client_secret + "x"]
    partner.wrong_values.append("e" * 40)
    assert_log_clean(gateway_process, partner)


def test_debug_log_keeps_secrets_out(
    gateway_process: Any, server_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway_process.env["GATEWAY_LOG_LEVEL"] = "DEBUG"
    partner = set_up_partner(gateway_process)
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    session = OAuth2Session(client=BackendApplicationClient(partner.client_id))
    token = session.fetch_token(
        token_url=partner.token_url,
        client_id=partner.client_id,
        client_secret=partner.client_secret,
        timeout=10,
    )
    partner.tokens.append(token["access_token"])
    assert session.post(partner.echo_url, json={}, timeout=10).status_code == 200
    basic = (partner.username, partner.password)
    assert requests.post(partner.echo_url, auth=basic, timeout=10).status_code == 200

    with open_database(server_database_url):
        stored = [row.value for row in GatewayState.select()]
        private_keys = [row.private_pem for row in SigningKey.select()]
    partner.wrong_values += [value for value in stored if len(value) >= 32]
    assert_log_clean(gateway_process, partner)
    log = gateway_process.log()
    assert " DEBUG " in log
    assert "PRIVATE KEY" not in log
    for pem in private_keys:
        assert pem.splitlines()[1] not in log
