"""``GET /healthz`` and the responses while the database cannot be reached."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import models
from models.clients import Client
from models.users import User
from tests.conftest import (
    PASSWORD,
    _admin_connection,
    basic_header,
    drop_postgres_database,
)
from tests.support import assert_error, assert_no_store, fetch, json_body


@pytest.mark.gen_test
async def test_healthy(http_client: Any, api: str) -> None:
    response = await fetch(http_client, api + "/healthz")

    assert response.code == 200
    assert json_body(response) == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture
def unreachable_sqlite(database_url: str) -> Iterator[Any]:
    """A switch that puts a directory where the SQLite file was, and back."""
    path = Path(urllib.parse.unquote(database_url[len("sqlite:///") :]))
    moved = path.with_name(path.name + ".away")

    class Switch:
        def break_database(self) -> None:
            models.database.close()
            path.rename(moved)
            path.mkdir()

        def restore_database(self) -> None:
            if moved.exists():
                path.rmdir()
                moved.rename(path)

    switch = Switch()
    yield switch
    switch.restore_database()


@pytest.mark.gen_test
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_unreachable_sqlite(
    http_client: Any,
    api: str,
    service_account: User,
    cc_client: tuple[Client, str],
    unreachable_sqlite: Any,
) -> None:
    client, secret = cc_client
    assert (await fetch(http_client, api + "/healthz")).code == 200

    unreachable_sqlite.break_database()

    health = await fetch(http_client, api + "/healthz")
    assert health.code == 503
    assert json_body(health) == {"status": "unavailable", "database": "unreachable"}
    assert health.headers["Cache-Control"] == "no-store"

    call = await fetch(
        http_client,
        api + "/integrations/execute/echo",
        "POST",
        "{}",
        {"Authorization": basic_header("partner-sa", PASSWORD + "x")},
    )
    assert_error(call, 503, "temporarily_unavailable")
    assert call.headers["Retry-After"] == "5"

    token = await fetch(
        http_client,
        api + "/o/token/",
        "POST",
        "grant_type=client_credentials",
        {
            "Authorization": basic_header(client.client_id, secret),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert_error(token, 503, "temporarily_unavailable")
    assert_no_store(token)

    unreachable_sqlite.restore_database()

    assert (await fetch(http_client, api + "/healthz")).code == 200


@pytest.mark.e2e
@pytest.mark.parametrize("server_database_url", ["postgresql"], indirect=True)
def test_dropped_postgresql_database(
    gateway_process: Any, server_database_url: str
) -> None:
    gateway_process.cli(
        "create-user",
        "partner-sa",
        "--service-account",
        "--password-stdin",
        stdin="long enough password\n",
    )
    gateway_process.cli("grant", "partner-sa", "echo")
    base_url = gateway_process.start()
    auth = ("partner-sa", "long enough password")
    assert requests.get(base_url + "/healthz", timeout=5).status_code == 200
    call = requests.post(base_url + "/integrations/execute/echo", auth=auth, timeout=5)
    assert call.status_code == 200

    drop_postgres_database(server_database_url)

    health = requests.get(base_url + "/healthz", timeout=5)
    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "database": "unreachable"}
    call = requests.post(base_url + "/integrations/execute/echo", auth=auth, timeout=5)
    assert call.status_code == 503
    assert call.json()["error"] == "temporarily_unavailable"
    assert call.headers["Retry-After"] == "5"
    # The process survives and keeps responding.
    assert requests.get(base_url + "/healthz", timeout=5).status_code == 503
    assert "Traceback" not in gateway_process.log()


@pytest.mark.gen_test
async def test_head_healthy(http_client: Any, api: str) -> None:
    response = await fetch(http_client, api + "/healthz", "HEAD")

    assert response.code == 200
    assert response.body == b""


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "path", ["/healthz", "/o/jwks/", "/.well-known/oauth-authorization-server"]
)
async def test_post_to_read_only_endpoint(
    http_client: Any, api: str, path: str
) -> None:
    response = await fetch(http_client, api + path, "POST", "x=1")

    assert response.code == 405
    assert json_body(response)["error"] == "method_not_allowed"


@pytest.mark.gen_test
async def test_healthy_after_dropped_connection(
    http_client: Any, api: str, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a server-side disconnect needs PostgreSQL")
    models.database.execute_sql("SELECT 1")
    pid = models.database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    admin = _admin_connection(database_url)
    admin.connect()
    admin.execute_sql("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()

    response = await fetch(http_client, api + "/healthz")

    assert response.code == 200
    assert json_body(response) == {"status": "ok"}
