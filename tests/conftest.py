"""Fixtures shared by the suite: app → database → user or service account →
client → token.

Database tests run on SQLite and, when ``GATEWAY_TEST_DATABASE_URL`` names a
PostgreSQL server, on PostgreSQL too. Each test process works in a database of
its own there, so that parallel runs do not disturb each other.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import peewee
import pytest
import tornado.httpserver
import tornado.ioloop
import tornado.testing
import tornado.web

import models
from auth.clients import create_client
from config import Settings, load_settings
from handlers.application import make_app
from handlers.gateway import Gateway, build_gateway
from models.clients import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, Client
from models.users import EXECUTE, SERVICE_ACCOUNT, User, create_user, grant_permission
from plugins.loader import IntegrationRegistry, load_integrations
from tests.oauth_support import LOOPBACK_REDIRECT_URI, REDIRECT_URI, OAuthCaller

pytest_plugins = ["tests.page_fixtures"]

POSTGRES_URL = os.environ.get("GATEWAY_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", "postgresql"]
TEST_BCRYPT_ROUNDS = 4
PASSWORD = "correct horse battery"
ISSUER = "http://127.0.0.1:8000"


def _admin_connection(url: str) -> peewee.PostgresqlDatabase:
    parsed = urllib.parse.urlsplit(url)
    return peewee.PostgresqlDatabase(
        "postgres",
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
    )


def _run_admin_sql(url: str, sql: str) -> None:
    admin = _admin_connection(url)
    admin.connect()
    try:
        admin.execute_sql(sql)
    finally:
        admin.close()


def create_postgres_database(url: str) -> str:
    """Create an empty database next to the one in ``url``; return its URL."""
    name = "gw_test_" + uuid.uuid4().hex[:12]
    _run_admin_sql(url, f'CREATE DATABASE "{name}"')
    parsed = urllib.parse.urlsplit(url)
    return parsed._replace(path="/" + name).geturl()


def drop_postgres_database(url: str) -> None:
    name = urllib.parse.urlsplit(url).path.strip("/")
    _run_admin_sql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def io_loop() -> Iterator[tornado.ioloop.IOLoop]:
    """An event loop per test, made without Tornado's deprecated make_current.

    This replaces pytest-tornado's fixture of the same name, which the
    ``gen_test`` marker, ``http_server`` and ``http_client`` all use.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    io_loop = tornado.ioloop.IOLoop.current()
    yield io_loop
    io_loop.close(all_fds=True)
    asyncio.set_event_loop(None)


@pytest.fixture
def _unused_port() -> Iterator[tuple[socket.socket, int]]:
    """pytest-tornado's listening socket, closed even when a later fixture fails.

    pytest-tornado 0.8.1 never closes it when the test is skipped or fails
    during setup, and the unclosed socket then fails a later test under
    warnings-as-errors.
    """
    sock, port = tornado.testing.bind_unused_port()
    yield sock, port
    sock.close()


@pytest.fixture
def http_server_options() -> dict[str, Any]:
    """Keyword arguments of the test ``HTTPServer``, which a module may override."""
    return {}


@pytest.fixture
def http_server(
    request: pytest.FixtureRequest,
    io_loop: tornado.ioloop.IOLoop,
    _unused_port: tuple[socket.socket, int],
    app: tornado.web.Application,
    http_server_options: dict[str, Any],
) -> Iterator[tornado.httpserver.HTTPServer]:
    """pytest-tornado's test server, with ``app`` as a declared dependency.

    pytest-tornado 0.8.1 looks ``app`` up only while its fixture runs, so pytest
    does not parametrize a test that requests just ``http_client`` and
    ``base_url`` by ``database_url``, and the lookup fails at setup. Declaring
    ``app`` here runs every such test once per backend. Unlike pytest-tornado,
    this fixture ignores the ``--app-fixture`` option, which the suite never sets.
    """
    server = tornado.httpserver.HTTPServer(app, **http_server_options)
    server.add_socket(_unused_port[0])
    yield server
    server.stop()
    io_loop.run_sync(
        server.close_all_connections,
        timeout=request.config.option.async_test_timeout,
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database for this test process, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("GATEWAY_TEST_DATABASE_URL is not set")
    url = create_postgres_database(POSTGRES_URL)
    yield url
    models.database.close()
    drop_postgres_database(url)


def _empty_postgres(url: str) -> None:
    db = models.open_database(url)
    db.execute_sql("DROP SCHEMA public CASCADE")
    db.execute_sql("CREATE SCHEMA public")
    db.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The URL of an empty database, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/gateway.db"
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[peewee.Database]:
    """The open, migrated database."""
    database = models.open_database(database_url)
    models.migrate()
    yield database
    database.close()


def load_test_settings(database_url: str, **overrides: Any) -> Settings:
    """Build test settings for ``database_url``, with ``overrides`` applied last."""
    values: dict[str, Any] = {"bcrypt_rounds": TEST_BCRYPT_ROUNDS, "issuer": ISSUER}
    values.update(overrides)
    return load_settings(environ={}, database_url=database_url, **values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_test_settings(database_url)


@pytest.fixture
def registry() -> IntegrationRegistry:
    return load_integrations()


@pytest.fixture
def gateway(
    settings: Settings, db: peewee.Database, registry: IntegrationRegistry
) -> Iterator[Gateway]:
    gateway = build_gateway(settings, registry)
    yield gateway
    gateway.close()


@pytest.fixture
def app(gateway: Gateway) -> tornado.web.Application:
    """The Tornado application that pytest-tornado serves."""
    return make_app(gateway)


@pytest.fixture
def api(base_url: str) -> str:
    """The base URL of the served application, for the partner API tests."""
    return base_url


@pytest.fixture
def oauth(http_client: Any, base_url: str, gateway: Gateway) -> OAuthCaller:
    """A partner system that calls the served token endpoints and ``echo``."""
    return OAuthCaller(http_client, base_url, gateway)


@pytest.fixture
def make_user(gateway: Gateway) -> Callable[..., User]:
    """Create a user: ``make_user(name, kind="standard", permissions=(...))``."""

    def make(
        username: str,
        kind: str = "standard",
        password: str = PASSWORD,
        permissions: dict[str, tuple[str, ...]] | None = None,
        vendor: str | None = None,
    ) -> User:
        user = create_user(
            username, kind, gateway.hasher.hash_now(password), vendor=vendor
        )
        for integration, granted in (permissions or {}).items():
            for permission in granted:
                grant_permission(user, integration, permission)
        return user

    return make


@pytest.fixture
def service_account(make_user: Callable[..., User]) -> User:
    """A service account that may execute ``echo``."""
    return make_user("partner-sa", SERVICE_ACCOUNT, permissions={"echo": (EXECUTE,)})


@pytest.fixture
def make_client(gateway: Gateway) -> Callable[..., tuple[Client, str | None]]:
    """Register a client: ``make_client(grant_types=[...], **fields)``."""

    def make(**fields: Any) -> tuple[Client, str | None]:
        fields.setdefault("name", "Partner app")
        fields.setdefault("grant_types", [CLIENT_CREDENTIALS])
        return create_client(gateway.client_secret_key, **fields)

    return make


@pytest.fixture
def cc_client(
    make_client: Callable[..., tuple[Client, str | None]], service_account: User
) -> tuple[Client, str]:
    """A client-credentials client acting as ``service_account``."""
    client, secret = make_client(service_account=service_account)
    assert secret is not None
    return client, secret


def basic_header(username: str, password: str) -> str:
    """Build an ``Authorization: Basic`` value from UTF-8 credentials."""
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


@pytest.fixture(params=BACKENDS)
def server_database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """An empty database of its own for a server process, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/server.db"
        return
    if not POSTGRES_URL:
        pytest.skip("GATEWAY_TEST_DATABASE_URL is not set")
    url = create_postgres_database(POSTGRES_URL)
    yield url
    drop_postgres_database(url)


@pytest.fixture
def gateway_process(tmp_path: Any, server_database_url: str) -> Iterator[Any]:
    """A ``server.py`` process that is not started yet; stopped after the test."""
    from tests.e2e import GatewayProcess

    process = GatewayProcess(tmp_path, server_database_url)
    yield process
    process.stop()


@pytest.fixture
def standard_user(make_user: Callable[..., User]) -> User:
    """A standard user who may execute ``echo``."""
    return make_user("alice", permissions={"echo": (EXECUTE,)})


@pytest.fixture
def ac_client(
    make_client: Callable[..., tuple[Client, str | None]],
) -> tuple[Client, str]:
    """A confidential authorization-code client with one redirect URI."""
    client, secret = make_client(
        name="Partner portal",
        grant_types=[AUTHORIZATION_CODE],
        redirect_uris=[REDIRECT_URI],
    )
    assert secret is not None
    return client, secret


@pytest.fixture
def public_client(make_client: Callable[..., tuple[Client, str | None]]) -> Client:
    """A public authorization-code client, as a native app would register."""
    client, _ = make_client(
        name="Partner desktop app",
        client_type="public",
        grant_types=[AUTHORIZATION_CODE],
        redirect_uris=[LOOPBACK_REDIRECT_URI],
    )
    return client
