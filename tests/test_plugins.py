"""Plugins: the entry-point loader and how a run's outcome reaches the caller."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import time
from typing import Any

import pytest
import tornado.httpclient

from auth.principal import Principal
from config import Settings
from models.users import EXECUTE, SERVICE_ACCOUNT, User
from plugins.base import IntegrationError, RunLogger
from plugins.loader import ENTRY_POINT_GROUP, IntegrationRegistry, load_integrations
from tests.conftest import PASSWORD, basic_header, load_test_settings
from tests.sample_plugins import (
    BROKEN,
    FAILURE_MESSAGE,
    WORKING,
    entry_point,
    load_with_builtins,
)
from tests.support import (
    assert_error,
    committed_events,
    committed_runs,
    fetch,
    json_body,
)

Response = tornado.httpclient.HTTPResponse
PLUGIN_TIMEOUT_SECONDS = 1.0
WORKING_NAMES = [
    "echo",
    "failing",
    "greet",
    "rejecting",
    "slow",
    "slow-thread",
    "thread-info",
    "unserializable",
]


def installed() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def failure_reasons(registry: IntegrationRegistry) -> dict[str, str]:
    return {item.entry_point.split(" = ")[0]: item.reason for item in registry.failed}


def test_builtin_echo_from_project_metadata() -> None:
    registry = load_integrations()

    echo = registry.get("echo")
    assert echo is not None
    assert echo.entry_point == "echo = plugins.echo:EchoIntegration"
    assert echo.distribution == "integration-gateway"
    assert echo.integration.title == "Echo"
    assert registry.failed == []


def test_broken_plugins_reported_others_load(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="integration_gateway")

    registry = load_with_builtins([*BROKEN, *WORKING])

    assert registry.names() == WORKING_NAMES
    reasons = failure_reasons(registry)
    assert set(reasons) == {
        "second-echo",
        "greet-again",
        "bad-name",
        "no-run",
        "broken-constructor",
        "not-an-integration",
        "missing",
        "missing-attribute",
    }
    assert reasons["second-echo"] == (
        "name 'echo' is already used by echo = plugins.echo:EchoIntegration"
        " from integration-gateway"
    )
    assert reasons["greet-again"] == (
        "name 'greet' is already used by greet ="
        " tests.sample_plugins:GreetIntegration from unknown distribution"
    )
    assert reasons["bad-name"].startswith("invalid name 'Bad_Name': use 1 to 64")
    assert reasons["no-run"] == "does not implement run()"
    assert reasons["broken-constructor"] == (
        "constructor failed: OSError: settings file missing"
    )
    assert reasons["not-an-integration"] == "not a subclass of Integration"
    assert reasons["missing"].startswith("import failed: ModuleNotFoundError:")
    assert reasons["missing-attribute"].startswith("import failed: AttributeError:")
    for item in registry.failed:
        assert item.distribution == "unknown distribution"

    logged = [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.ERROR and "failed to load" in record.getMessage()
    ]
    assert len(logged) == len(reasons)
    assert any("settings file missing" in message for message in logged)


def test_builtin_name_kept_whatever_the_order() -> None:
    # "aaa" sorts before "echo", but built-in integrations load first.
    registry = load_integrations(
        [entry_point("aaa", "SecondEchoIntegration"), *installed()]
    )

    echo = registry.get("echo")
    assert echo is not None
    assert echo.distribution == "integration-gateway"
    assert [item.entry_point for item in registry.failed] == [
        "aaa = tests.sample_plugins:SecondEchoIntegration"
    ]


def test_repeated_entry_point_loads_once() -> None:
    greet = entry_point("greet", "GreetIntegration")

    registry = load_integrations([greet, greet])

    assert registry.names() == ["greet"]
    assert registry.failed == []


@pytest.mark.parametrize("name", ["", "-x", "x-", "a" * 65, "UPPER", "a_b", "a\n"])
def test_invalid_names(name: str) -> None:
    from tests.sample_plugins import GreetIntegration

    integration = GreetIntegration()
    integration.name = name  # type: ignore[misc]
    registry = IntegrationRegistry()

    registry.add(integration, "x = y:Z", "dist")

    assert registry.names() == []
    assert registry.failed[0].reason.startswith(f"invalid name {name!r}")


def test_empty_group() -> None:
    registry = load_integrations([])

    assert registry.names() == []
    assert registry.failed == []


@pytest.mark.parametrize("status_code", [200, 302, 500, 503])
def test_integration_error_needs_4xx(status_code: int) -> None:
    with pytest.raises(ValueError, match="must be a 4xx status"):
        IntegrationError("no", status_code=status_code)


def test_run_logger_prefixes_run_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="integration_gateway.plugins.run")
    logger = RunLogger(
        logging.getLogger("integration_gateway.plugins.run"), {"run_id": "abc123"}
    )

    logger.info("fetched %d invoices", 3)

    assert caplog.records[-1].getMessage() == "run abc123: fetched 3 invoices"


def test_principal_seen_by_plugins() -> None:
    principal = Principal(
        user_id=1,
        username="partner-sa",
        kind=SERVICE_ACCOUNT,
        auth_method="bearer",
        client_id="abc",
        scopes=frozenset({"integration:b", "integration:a"}),
        token_id="jti",
    )

    assert principal.to_dict() == {
        "username": "partner-sa",
        "kind": "service_account",
        "auth_method": "bearer",
        "client_id": "abc",
        "scopes": ["integration:a", "integration:b"],
    }


# Runs through the partner API.


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_test_settings(
        database_url,
        plugin_timeout_seconds=PLUGIN_TIMEOUT_SECONDS,
        integrations={"thread-info": {"region": "eu", "retries": 2}},
    )


@pytest.fixture
def registry() -> IntegrationRegistry:
    return load_with_builtins([*WORKING, *BROKEN])


@pytest.fixture
def caller(make_user: Any) -> User:
    """A service account that may execute every sample integration."""
    permissions = {name: (EXECUTE,) for name in WORKING_NAMES}
    return make_user(  # type: ignore[no-any-return]
        "partner-sa", SERVICE_ACCOUNT, permissions=permissions
    )


@pytest.fixture
def api(api: str, caller: User) -> str:
    """The base URL of the served application, with ``caller`` in place."""
    return api


async def run(http_client: Any, api: str, name: str, body: str = "") -> Response:
    return await fetch(
        http_client,
        f"{api}/integrations/execute/{name}",
        "POST",
        body,
        {"Authorization": basic_header("partner-sa", PASSWORD)},
    )


@pytest.mark.gen_test
async def test_exception_is_integration_failed(
    http_client: Any,
    api: str,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = await run(http_client, api, "failing")

    run_id = response.headers["X-Run-Id"]
    body = assert_error(response, 500, "integration_failed")
    assert body == {"error": "integration_failed", "run_id": run_id}
    assert FAILURE_MESSAGE not in response.body.decode()
    [record] = [
        r for r in caplog.records if r.name == "integration_gateway.plugins.run"
    ]
    assert record.getMessage() == f"run {run_id} of failing failed: RuntimeError"
    assert record.exc_info is not None
    assert FAILURE_MESSAGE in str(record.exc_info[1])
    [stored] = committed_runs(database_url, run_id=run_id)
    assert stored.status == "failed"
    assert stored.http_status == 500
    assert stored.error_class == "RuntimeError"
    [event] = committed_events(
        database_url, request_id=response.headers["X-Request-Id"]
    )
    assert event.outcome == "failure"
    assert event.detail == f"run {run_id}: failed"


@pytest.mark.gen_test
async def test_unserializable_result_is_integration_failed(
    http_client: Any, api: str, database_url: str
) -> None:
    response = await run(http_client, api, "unserializable")

    assert_error(response, 500, "integration_failed")
    [stored] = committed_runs(database_url, run_id=response.headers["X-Run-Id"])
    assert stored.error_class == "TypeError"


@pytest.mark.gen_test
@pytest.mark.parametrize("name", ["slow", "slow-thread"])
async def test_timeout_is_504(
    http_client: Any, api: str, database_url: str, name: str
) -> None:
    started = time.monotonic()

    response = await run(http_client, api, name, '{"seconds": 3}')

    elapsed = time.monotonic() - started
    run_id = response.headers["X-Run-Id"]
    body = assert_error(response, 504, "integration_timeout")
    assert body == {"error": "integration_timeout", "run_id": run_id}
    assert PLUGIN_TIMEOUT_SECONDS <= elapsed < PLUGIN_TIMEOUT_SECONDS + 1.5
    [stored] = committed_runs(database_url, run_id=run_id)
    assert stored.status == "timed_out"
    assert stored.http_status == 504
    assert stored.error_class == "TimeoutError"


@pytest.mark.gen_test
@pytest.mark.parametrize("name", ["slow", "slow-thread"])
async def test_run_within_timeout(http_client: Any, api: str, name: str) -> None:
    response = await run(http_client, api, name, '{"seconds": 0.05}')

    assert response.code == 200
    assert json_body(response) == {"slept": True}


@pytest.mark.gen_test
async def test_integration_error_status_and_message(
    http_client: Any, api: str, database_url: str
) -> None:
    response = await run(http_client, api, "rejecting")

    run_id = response.headers["X-Run-Id"]
    body = assert_error(response, 409, "invoice_paid")
    assert body == {
        "error": "invoice_paid",
        "error_description": "Invoice 17 is already paid.",
        "run_id": run_id,
    }
    [stored] = committed_runs(database_url, run_id=run_id)
    assert stored.status == "rejected"
    assert stored.http_status == 409
    assert stored.error_class == "IntegrationError"


@pytest.mark.gen_test
async def test_plain_function_runs_in_thread_pool(
    http_client: Any, api: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="integration_gateway.plugins.run")

    response = await run(http_client, api, "thread-info")

    assert response.code == 200
    body = json_body(response)
    run_id = response.headers["X-Run-Id"]
    assert body["thread"].startswith("plugin")
    assert body["run_id"] == run_id
    assert body["settings"] == {"region": "eu", "retries": 2}
    assert body["principal"] == {
        "username": "partner-sa",
        "kind": "service_account",
        "auth_method": "basic",
        "client_id": None,
        "scopes": None,
    }
    messages = [record.getMessage() for record in caplog.records]
    assert f"run {run_id}: thread-info ran" in messages


@pytest.mark.gen_test
async def test_plain_function_does_not_block_loop(http_client: Any, api: str) -> None:
    finished: list[str] = []

    async def slow() -> None:
        response = await run(http_client, api, "slow-thread", '{"seconds": 0.5}')
        assert response.code == 200
        finished.append("slow-thread")

    async def health() -> None:
        await asyncio.sleep(0.1)
        response = await fetch(http_client, api + "/healthz")
        assert response.code == 200
        finished.append("healthz")

    await asyncio.gather(slow(), health())

    assert finished == ["healthz", "slow-thread"]


@pytest.mark.gen_test
@pytest.mark.parametrize("name", ["greet-again", "bad-name", "no-run", "missing"])
async def test_failed_plugin_not_served(http_client: Any, api: str, name: str) -> None:
    response = await run(http_client, api, name)

    assert_error(response, 404, "not_found")


@pytest.mark.gen_test
async def test_working_plugin_served_beside_failed(http_client: Any, api: str) -> None:
    response = await run(http_client, api, "greet")

    assert response.code == 200
    assert json_body(response) == {"greeting": "hello partner-sa"}
