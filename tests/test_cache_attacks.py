"""Attacks on the query results that a gateway process keeps in memory.

Each test runs real ``server.py`` processes on one database, once on SQLite and
once on PostgreSQL, and checks that a revocation made through the command line,
the admin pages or another process holds for the next request. A second server
with a long ``change_poll_seconds`` stands for a process of a load-balanced
deployment that has not read the change counter yet.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import peewee
import pytest
import requests

import models
from models.users import User
from tests.e2e import CREATE_CC_APP, GatewayProcess, open_database

pytestmark = pytest.mark.e2e

STAFF_PASSWORD = "long enough password"
XSRF_FIELD = re.compile(r'name="_xsrf" value="([^"]+)"')
# A check of a password hashed at this bcrypt cost takes seconds, so a password
# reset fits in while one runs.
SLOW_BCRYPT_ROUNDS = "16"
# A second server that reads the change counter this rarely keeps its cached
# query results for the whole test.
STALE_POLL_SECONDS = "60"
# Processes behind one load balancer share the issuer, so that each accepts
# the tokens of the others. Nothing listens on this URL.
SHARED_ISSUER = "http://127.0.0.1:8000"
PG_ONLY = pytest.mark.parametrize("server_database_url", ["postgresql"], indirect=True)


@pytest.fixture
def fresh_process(gateway_process: GatewayProcess) -> GatewayProcess:
    """The gateway, with the public URL that every process of it shares."""
    gateway_process.env["GATEWAY_ISSUER"] = SHARED_ISSUER
    return gateway_process


@pytest.fixture
def stale_process(tmp_path: Path, server_database_url: str) -> Iterator[Any]:
    """A second server on the same database, slow to read the change counter."""
    process = GatewayProcess(
        tmp_path,
        server_database_url,
        env={
            "GATEWAY_CHANGE_POLL_SECONDS": STALE_POLL_SECONDS,
            "GATEWAY_ISSUER": SHARED_ISSUER,
        },
    )
    yield process
    process.stop()


def set_up_client(gateway: GatewayProcess) -> tuple[str, str]:
    """Create ``partner-sa``, grant it echo and register a client acting as it.

    Returns the client id and the client secret.
    """
    gateway.cli_json("create-user", "partner-sa", "--service-account")
    gateway.cli("grant", "partner-sa", "echo")
    client = gateway.cli_json(*CREATE_CC_APP, "--name", "ERP connector")
    return client["client_id"], client["client_secret"]


def request_token(base_url: str, client_id: str, secret: str) -> requests.Response:
    return requests.post(
        base_url + "/o/token/",
        auth=(client_id, secret),
        data={"grant_type": "client_credentials"},
        timeout=30,
    )


def call_echo(base_url: str, **credentials: Any) -> requests.Response:
    return requests.post(
        base_url + "/integrations/execute/echo", json={}, timeout=30, **credentials
    )


def bearer(token: str) -> dict[str, dict[str, str]]:
    return {"headers": {"Authorization": "Bearer " + token}}


def log_in(base_url: str, username: str, password: str) -> requests.Session:
    """Log in on the login page and return the session, which keeps the cookies."""
    session = requests.Session()
    page = session.get(base_url + "/login", timeout=30)
    response = session.post(
        base_url + "/login",
        data={
            "username": username,
            "password": password,
            "_xsrf": read_xsrf(page.text),
        },
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 303
    return session


def read_xsrf(page: str) -> str:
    match = XSRF_FIELD.search(page)
    assert match is not None
    return match.group(1)


def query_user_id(url: str, username: str) -> int:
    with open_database(url):
        return int(User.get(User.username == username).get_id())


def test_token_minted_stale_outlives_deletion(
    fresh_process: GatewayProcess, stale_process: GatewayProcess
) -> None:
    client_id, secret = set_up_client(fresh_process)
    fresh_url = fresh_process.start()
    stale_url = stale_process.start()
    # The stale server caches the client and its service account.
    assert request_token(stale_url, client_id, secret).status_code == 200

    fresh_process.cli("delete-app", client_id)
    minted = request_token(stale_url, client_id, secret)

    # A rejected token request is as good as a revoked token. A token issued
    # for the deleted client must not work on any server.
    if minted.status_code != 200:
        assert minted.status_code == 401
        return
    response = call_echo(fresh_url, **bearer(minted.json()["access_token"]))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_token_minted_stale_revives_on_activation(
    fresh_process: GatewayProcess, stale_process: GatewayProcess
) -> None:
    client_id, secret = set_up_client(fresh_process)
    fresh_url = fresh_process.start()
    stale_url = stale_process.start()
    assert request_token(stale_url, client_id, secret).status_code == 200

    fresh_process.cli("deactivate-user", "partner-sa")
    minted = request_token(stale_url, client_id, secret)
    if minted.status_code != 200:
        assert minted.status_code == 400
        return
    token = minted.json()["access_token"]
    assert call_echo(fresh_url, **bearer(token)).status_code == 401

    fresh_process.cli("activate-user", "partner-sa")

    # Tokens of the account stay revoked after the activation, and this one
    # was issued after the deactivation.
    response = call_echo(fresh_url, **bearer(token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_old_password_joins_running_check(
    gateway_process: GatewayProcess, server_database_url: str
) -> None:
    gateway_process.cli(
        "create-user",
        "admin",
        "--staff",
        "--password-stdin",
        stdin=STAFF_PASSWORD + "\n",
    )
    created = gateway_process.run_cli(
        "create-user",
        "partner-sa",
        "--service-account",
        "--json",
        env={"GATEWAY_BCRYPT_ROUNDS": SLOW_BCRYPT_ROUNDS},
    )
    assert created.returncode == 0, created.stderr
    old_password = json.loads(created.stdout)["password"]
    gateway_process.cli("grant", "partner-sa", "echo")
    user_id = query_user_id(server_database_url, "partner-sa")
    base_url = gateway_process.start()
    staff = log_in(base_url, "admin", STAFF_PASSWORD)
    user_page = staff.get(f"{base_url}/admin/users/{user_id}", timeout=30)
    old_basic = {"auth": ("partner-sa", old_password)}

    # A call with the old password starts a slow bcrypt check of the old hash.
    first = threading.Thread(target=lambda: call_echo(base_url, **old_basic))
    first.start()
    # Gives the server time to start the check before the reset.
    time.sleep(1)
    reset = staff.post(
        f"{base_url}/admin/users/{user_id}/password",
        data={"_xsrf": read_xsrf(user_page.text)},
        allow_redirects=False,
        timeout=30,
    )
    assert reset.status_code == 200

    after_reset = call_echo(base_url, **old_basic)
    first.join(60)
    later = call_echo(base_url, **old_basic)

    assert after_reset.status_code == 401
    assert later.status_code == 401


def test_missing_counter_row_hides_changes(
    gateway_process: GatewayProcess, server_database_url: str
) -> None:
    account = gateway_process.cli_json("create-user", "partner-sa", "--service-account")
    gateway_process.cli("grant", "partner-sa", "echo")
    base_url = gateway_process.start()
    basic = {"auth": ("partner-sa", account["password"])}
    assert call_echo(base_url, **basic).status_code == 200

    with open_database(server_database_url):
        models.database.execute_sql('DELETE FROM "change_counter"')
    # The server reads the counter again and finds no row.
    time.sleep(1.5)
    assert call_echo(base_url, **basic).status_code == 200
    gateway_process.cli("revoke", "partner-sa", "echo")
    time.sleep(1.5)

    response = call_echo(base_url, **basic)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def run_admin_sql(url: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Run ``sql`` on the server of ``url``, connected to its ``postgres`` database."""
    parsed = urllib.parse.urlsplit(url)
    admin = peewee.PostgresqlDatabase(
        "postgres",
        user=parsed.username or "postgres",
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
    )
    admin.connect()
    try:
        admin.execute_sql(sql, params)
    finally:
        admin.close()


def terminate_connections(url: str) -> None:
    """End every connection of other sessions to the database at ``url``."""
    run_admin_sql(
        url,
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid()",
        (urllib.parse.urlsplit(url).path.lstrip("/"),),
    )


def allow_connections(url: str, allowed: bool) -> None:
    """Let new connections to the database at ``url`` in, or reject them."""
    name = urllib.parse.urlsplit(url).path.lstrip("/")
    value = "true" if allowed else "false"
    run_admin_sql(url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {value}')


@PG_ONLY
def test_failed_poll_serves_stale_permission(
    gateway_process: GatewayProcess, server_database_url: str
) -> None:
    account = gateway_process.cli_json("create-user", "partner-sa", "--service-account")
    gateway_process.cli("grant", "partner-sa", "echo")
    base_url = gateway_process.start()
    basic = {"auth": ("partner-sa", account["password"])}
    assert call_echo(base_url, **basic).status_code == 200

    gateway_process.cli("revoke", "partner-sa", "echo")
    # More than change_poll_seconds (1) after the revocation, the next request
    # reads the counter. That read fails because the connection broke and the
    # database rejects the new connection that the gateway opens to run it again.
    time.sleep(1.5)
    allow_connections(server_database_url, False)
    try:
        terminate_connections(server_database_url)
        failed = call_echo(base_url, **basic)
    finally:
        allow_connections(server_database_url, True)
    response = call_echo(base_url, **basic)

    assert failed.status_code == 503
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
