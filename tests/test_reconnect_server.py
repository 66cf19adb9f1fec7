"""A ``server.py`` process whose PostgreSQL connection the server dropped.

Each test terminates the gateway's connection as a PostgreSQL restart, a
failover or an idle timeout would. Partner calls, token requests and the admin
pages must then succeed on the first try, and a write must be committed once.
A write whose COMMIT was cut off must fail with 503.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.e2e import CREATE_CC_APP, GatewayProcess
from tests.support import committed_events, committed_runs
from tests.test_cache_attacks import log_in
from tests.test_reconnect import (
    KILL_AT_COMMIT,
    KILL_AT_INSERT,
    TRIGGER_CALLS,
    install_kill_once,
    run_separately,
    terminate_backends,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("server_database_url", ["postgresql"], indirect=True),
]

SA_PASSWORD = "partner password 123"
STAFF_PASSWORD = "staff password 123"
RECONNECT_LINE = "PostgreSQL dropped the connection"
# The server writes its log lines at the end of a turn of its event loop, a
# moment after the response.
LOG_WAIT_SECONDS = 5


class Partner:
    """The credentials that the tests use against one gateway process."""

    def __init__(self, gateway: GatewayProcess) -> None:
        gateway.cli(
            "create-user",
            "partner-sa",
            "--service-account",
            "--password-stdin",
            stdin=SA_PASSWORD + "\n",
        )
        gateway.cli("grant", "partner-sa", "echo")
        gateway.cli(
            "create-user", "admin", "--staff", "--password-stdin", stdin=STAFF_PASSWORD
        )
        client = gateway.cli_json(*CREATE_CC_APP, "--name", "ERP connector")
        self.client_id: str = client["client_id"]
        self.client_secret: str = client["client_secret"]
        self.base_url = gateway.start()
        self.access_token = ""

    def call_basic(self) -> requests.Response:
        return requests.post(
            self.base_url + "/integrations/execute/echo",
            json={"hello": "world"},
            auth=("partner-sa", SA_PASSWORD),
            timeout=30,
        )

    def call_bearer(self) -> requests.Response:
        return requests.post(
            self.base_url + "/integrations/execute/echo",
            json={"hello": "world"},
            headers={"Authorization": "Bearer " + self.access_token},
            timeout=30,
        )

    def request_token(self) -> requests.Response:
        response = requests.post(
            self.base_url + "/o/token/",
            auth=(self.client_id, self.client_secret),
            data={"grant_type": "client_credentials"},
            timeout=30,
        )
        if response.status_code == 200:
            self.access_token = response.json()["access_token"]
        return response


def count_log_lines(gateway: GatewayProcess, text: str, expected: int) -> int:
    """Return how often ``text`` is in the log, waiting briefly for ``expected``."""
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    while True:
        count = gateway.log().count(text)
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_requests_succeed_after_dropped_connection(
    gateway_process: GatewayProcess, server_database_url: str
) -> None:
    partner = Partner(gateway_process)
    assert partner.call_basic().status_code == 200
    assert partner.request_token().status_code == 200
    assert partner.call_bearer().status_code == 200
    staff = log_in(partner.base_url, "admin", STAFF_PASSWORD)

    def admin_page() -> requests.Response:
        return staff.get(partner.base_url + "/admin/users", timeout=30)

    assert admin_page().status_code == 200
    assert count_log_lines(gateway_process, RECONNECT_LINE, 0) == 0
    runs_before = len(committed_runs(server_database_url))

    requests_to_make: list[tuple[str, Any]] = [
        ("Basic call", partner.call_basic),
        ("bearer call", partner.call_bearer),
        ("token request", partner.request_token),
        ("admin page", admin_page),
    ]
    for reconnects, (name, make_request) in enumerate(requests_to_make, start=1):
        assert terminate_backends(server_database_url) == 1, name

        response = make_request()

        assert response.status_code == 200, (name, response.text)
        count = count_log_lines(gateway_process, RECONNECT_LINE, reconnects)
        assert count == reconnects, name

    # Each of the two calls after a dropped connection committed one run.
    assert len(committed_runs(server_database_url)) == runs_before + 2
    assert "Traceback" not in gateway_process.log()


def test_write_lost_before_commit_committed_once(
    gateway_process: GatewayProcess, server_database_url: str
) -> None:
    partner = Partner(gateway_process)
    assert partner.call_basic().status_code == 200
    install_kill_once(server_database_url, KILL_AT_INSERT)

    response = partner.call_basic()

    assert response.status_code == 200
    assert response.json()["payload"] == {"hello": "world"}
    # The audit insert ended the first transaction, and the second committed.
    assert run_separately(server_database_url, TRIGGER_CALLS) == 2
    run_id = response.headers["X-Run-Id"]
    assert len(committed_runs(server_database_url, run_id=run_id)) == 1
    request_id = response.headers["X-Request-Id"]
    assert len(committed_events(server_database_url, request_id=request_id)) == 1
    assert count_log_lines(gateway_process, RECONNECT_LINE, 1) == 1
    log = gateway_process.log()
    assert "reconnecting to run the transaction again" in log
    assert "Traceback" not in log


def test_write_lost_during_commit_fails(
    gateway_process: GatewayProcess, server_database_url: str
) -> None:
    partner = Partner(gateway_process)
    assert partner.call_basic().status_code == 200
    runs_before = len(committed_runs(server_database_url))
    install_kill_once(server_database_url, KILL_AT_COMMIT)

    response = partner.call_basic()

    # The commit may have happened, so the gateway must not run it again.
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["Retry-After"] == "5"
    assert run_separately(server_database_url, TRIGGER_CALLS) == 1
    assert len(committed_runs(server_database_url)) == runs_before
    failure = "group commit of 1 requests failed: connection lost during COMMIT,"
    assert count_log_lines(gateway_process, failure, 1) == 1
    assert count_log_lines(gateway_process, RECONNECT_LINE, 0) == 0

    # The next call gets a new connection.
    assert partner.call_basic().status_code == 200
    assert len(committed_runs(server_database_url)) == runs_before + 1
    assert "Traceback" not in gateway_process.log()
