"""Basic credentials under the login throttle, and the per-address bcrypt share.

The test server reads the client address from ``X-Real-Ip``, so requests can
come from several addresses; the gateway does the same behind a reverse proxy
when ``trust_proxy_headers`` is set.
"""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import tornado.httpclient
import tornado.httpserver
from tornado.httpclient import HTTPResponse

from auth.basic_auth import KNOWN_ADDRESS_DAYS
from handlers.application import run_housekeeping
from handlers.gateway import Gateway
from models.audit import AuditEvent
from models.base import utcnow
from models.known_addresses import (
    KnownAddress,
    check_known_address,
    remember_known_address,
)
from models.login_failures import LoginFailure
from models.users import User
from tests.conftest import PASSWORD, basic_header
from tests.pages import PageClient
from tests.support import BASIC_CHALLENGE, assert_error, challenges, fetch
from tests.test_credential_cache import CheckCounter

MAX_FAILURES = 5
WINDOW_SECONDS = 300
PARTNER_ADDRESS = "198.51.100.20"


@pytest.fixture
def http_server(
    request: Any, io_loop: Any, _unused_port: Any, app: Any
) -> Iterator[tornado.httpserver.HTTPServer]:
    """The test server, reading the client address from ``X-Real-Ip``."""
    server = tornado.httpserver.HTTPServer(app, xheaders=True)
    server.add_socket(_unused_port[0])
    yield server
    server.stop()
    io_loop.run_sync(server.close_all_connections)


async def execute(
    http_client: Any,
    base_url: str,
    password: str,
    address: str,
    username: str = "partner-sa",
) -> HTTPResponse:
    """Call echo with Basic credentials from ``address``."""
    return await fetch(
        http_client,
        base_url + "/integrations/execute/echo",
        method="POST",
        body="{}",
        headers={
            "Authorization": basic_header(username, password),
            "Content-Type": "application/json",
            "X-Real-Ip": address,
        },
    )


def assert_throttled(response: HTTPResponse) -> int:
    """Assert a 429 with its Retry-After; return the seconds to wait."""
    body = assert_error(response, 429, "too_many_requests")
    assert "Retry-After" in body["error_description"]
    assert challenges(response) == []
    assert response.headers["Cache-Control"] == "no-store"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW_SECONDS
    return retry_after


def assert_unauthorized(response: HTTPResponse) -> None:
    assert_error(response, 401, "unauthorized")
    assert BASIC_CHALLENGE in challenges(response)


async def fail_from_addresses(
    http_client: Any, base_url: str, addresses: list[str]
) -> None:
    """Send one wrong password for ``partner-sa`` from each address."""
    for address in addresses:
        assert_unauthorized(await execute(http_client, base_url, "wrong", address))


ATTACKERS = [f"203.0.113.{number}" for number in range(1, MAX_FAILURES + 1)]


@pytest.mark.gen_test
async def test_address_throttled_before_bcrypt(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    service_account: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counter = CheckCounter(gateway, monkeypatch)
    for number in range(MAX_FAILURES):
        response = await execute(
            http_client, base_url, "wrong", "192.0.2.9", username=f"user{number}"
        )
        assert_unauthorized(response)
    assert counter.calls == MAX_FAILURES

    blocked = await execute(http_client, base_url, PASSWORD, "192.0.2.9")

    assert_throttled(blocked)
    assert counter.calls == MAX_FAILURES
    elsewhere = await execute(http_client, base_url, PASSWORD, "192.0.2.10")
    assert elsewhere.code == 200


@pytest.mark.gen_test
async def test_login_and_basic_share_counts(
    http_client: Any, base_url: str, service_account: User, make_user: Any
) -> None:
    make_user("carol")
    address = "192.0.2.30"
    pages = PageClient(http_client, base_url)
    for _ in range(3):
        await pages.get("/login", headers={"X-Real-Ip": address})
        login = await pages.fetch(
            "/login",
            method="POST",
            body=f"username=carol&password=wrong&_xsrf={pages.xsrf}",
            headers={
                "X-Real-Ip": address,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert login.code == 422
    for _ in range(2):
        assert_unauthorized(await execute(http_client, base_url, "wrong", address))

    assert_throttled(await execute(http_client, base_url, PASSWORD, address))
    assert LoginFailure.select().where(LoginFailure.remote_addr == address).count() == 5


@pytest.mark.gen_test
async def test_username_throttled_from_unknown_address(
    http_client: Any, base_url: str, service_account: User
) -> None:
    await fail_from_addresses(http_client, base_url, ATTACKERS)

    response = await execute(http_client, base_url, PASSWORD, "198.51.100.99")

    assert_throttled(response)
    event = AuditEvent.get(AuditEvent.detail == "throttled")
    assert event.action == "auth.failure"
    assert event.actor == "partner-sa"
    assert event.auth_method == "basic"
    assert event.remote_addr == "198.51.100.99"


@pytest.mark.gen_test
async def test_partner_keeps_working_under_attack(
    http_client: Any, base_url: str, gateway: Gateway, service_account: User
) -> None:
    first = await execute(http_client, base_url, PASSWORD, PARTNER_ADDRESS)
    assert first.code == 200
    assert KnownAddress.get(KnownAddress.username == "partner-sa").remote_addr == (
        PARTNER_ADDRESS
    )
    await fail_from_addresses(http_client, base_url, ATTACKERS)

    cached = await execute(http_client, base_url, PASSWORD, PARTNER_ADDRESS)
    assert cached.code == 200
    # After a restart or a cache expiry, the known address still passes.
    gateway.authenticator.cache.forget_user(service_account.id)
    verified = await execute(http_client, base_url, PASSWORD, PARTNER_ADDRESS)
    assert verified.code == 200
    # The same password from an unknown address is throttled.
    gateway.authenticator.cache.forget_user(service_account.id)
    stranger = await execute(http_client, base_url, PASSWORD, "198.51.100.77")
    assert_throttled(stranger)


@pytest.mark.gen_test
async def test_cached_credential_from_throttled_address(
    http_client: Any, base_url: str, service_account: User
) -> None:
    cached = await execute(http_client, base_url, PASSWORD, PARTNER_ADDRESS)
    assert cached.code == 200
    attacker = "203.0.113.50"
    for number in range(MAX_FAILURES):
        response = await execute(http_client, base_url, f"guess {number}", attacker)
        assert_unauthorized(response)

    response = await execute(http_client, base_url, PASSWORD, attacker)

    assert_throttled(response)


@pytest.mark.gen_test
async def test_probing_cache_uses_address_allowance(
    http_client: Any, base_url: str, service_account: User
) -> None:
    cached = await execute(http_client, base_url, PASSWORD, PARTNER_ADDRESS)
    assert cached.code == 200
    await fail_from_addresses(http_client, base_url, ATTACKERS)
    prober = "203.0.113.60"

    for number in range(MAX_FAILURES):
        guess = await execute(http_client, base_url, f"guess {number}", prober)
        assert_throttled(guess)
    right = await execute(http_client, base_url, PASSWORD, prober)

    assert_throttled(right)
    recorded = LoginFailure.select().where(LoginFailure.remote_addr == prober)
    assert recorded.count() == MAX_FAILURES


@pytest.mark.gen_test
async def test_success_not_counted(
    http_client: Any, base_url: str, gateway: Gateway, service_account: User
) -> None:
    for _ in range(MAX_FAILURES + 2):
        gateway.authenticator.cache.forget_user(service_account.id)
        response = await execute(http_client, base_url, PASSWORD, PARTNER_ADDRESS)
        assert response.code == 200

    assert LoginFailure.select().count() == 0


async def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the gateway"
        await asyncio.sleep(0.01)


@pytest.mark.gen_test(timeout=30)
async def test_one_address_fills_only_its_share(
    http_server: Any, base_url: str, gateway: Gateway, service_account: User
) -> None:
    authenticator = gateway.authenticator
    authenticator.max_pending = 8
    gateway.login_throttle.max_failures = 1000
    share = authenticator.max_pending_per_address
    # Every bcrypt thread waits on the gate, so checks stay pending.
    gate = threading.Event()
    for _ in range(gateway.settings.worker_threads):
        gateway.password_executor.submit(gate.wait)
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=32)
    try:
        flood = [
            asyncio.ensure_future(
                execute(client, base_url, f"guess {number}", "203.0.113.70")
            )
            for number in range(10)
        ]
        await wait_until(lambda: sum(task.done() for task in flood) == 10 - share)
        assert authenticator.pending == share
        partner = asyncio.ensure_future(
            execute(client, base_url, PASSWORD, PARTNER_ADDRESS)
        )
        await wait_until(lambda: authenticator.pending == share + 1)
        assert not partner.done()
    finally:
        gate.set()

    try:
        assert (await partner).code == 200
        responses = await asyncio.gather(*flood)
    finally:
        client.close()
    busy = [response for response in responses if response.code == 503]
    assert len(busy) == 10 - share
    for response in busy:
        assert_error(response, 503, "temporarily_unavailable")
        assert response.headers["Retry-After"] == "1"
    checked = [response for response in responses if response.code != 503]
    assert len(checked) == share
    for response in checked:
        assert_unauthorized(response)
    # A request that got 503 was never checked, so it counts as no failure.
    assert LoginFailure.select().count() == share


def test_housekeeping_forgets_old_addresses(gateway: Gateway) -> None:
    remember_known_address("partner-sa", "192.0.2.1")
    KnownAddress.update(
        last_success_at=utcnow() - datetime.timedelta(days=KNOWN_ADDRESS_DAYS + 1)
    ).execute()
    remember_known_address("partner-sa", "192.0.2.2")

    run_housekeeping(gateway)

    remaining = [row.remote_addr for row in KnownAddress.select()]
    assert remaining == ["192.0.2.2"]


def test_known_address_expires(db: Any) -> None:
    remember_known_address("partner-sa", "192.0.2.1")
    recent = utcnow() - datetime.timedelta(days=1)

    assert check_known_address("partner-sa", "192.0.2.1", recent)
    assert not check_known_address("partner-sa", "192.0.2.2", recent)
    assert not check_known_address("other-sa", "192.0.2.1", recent)
    assert not check_known_address("partner-sa", "192.0.2.1", utcnow())
